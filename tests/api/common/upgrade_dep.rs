//! The `oceanbase_upgrade_dep.yml` texts the upgrade tests put in their
//! oceanbase-ce RPMs, and where such an RPM carries it.

/// Where an oceanbase-ce RPM carries its upgrade dependency YAML.
pub const DEP_YAML_PATH: &str = "/home/admin/oceanbase/etc/oceanbase_upgrade_dep.yml";

/// A small graph (4.2.1.0 → 4.2.1.1 → 4.3.0.0), with a comment and a blank
/// line that must come back verbatim.
pub const DEP_YAML: &str = "# upgrade graph\n- version: 4.2.1.0\n  can_be_upgraded_to:\n    - 4.2.1.1\n\n- version: 4.2.1.1\n  can_be_upgraded_to:\n    - 4.3.0.0\n  require_from_binary:\n    value: True\n    when_come_from: [4.2.1.0]\n";

/// The seed's sample graph, plus the edge 4.2.1.1 → 4.2.1.2 of later releases.
pub const SEED_YAML: &str = r#"
- version: 4.0.0.0
  can_be_upgraded_to:
      - 4.1.0.0
- version: 4.1.0.0-100000192023032010
  can_be_upgraded_to:
    - 4.1.0.0
  deprecated: True
- version: 4.1.0.0
  can_be_upgraded_to:
      - 4.1.0.1
- version: 4.1.0.1
  can_be_upgraded_to:
      - 4.1.0.2
- version: 4.1.0.2
  can_be_upgraded_to:
      - 4.2.0.0
  require_from_binary:
    value: True
    when_come_from: [4.0.0.0, 4.1.0.0-100000192023032010]
- version: 4.2.0.0-100000152023080109
  can_be_upgraded_to:
    - 4.2.0.0
  deprecated: True
- version: 4.2.0.0
  can_be_upgraded_to:
      - 4.2.1.0
- version: 4.2.1.0
  can_be_upgraded_to:
      - 4.2.1.1
- version: 4.2.1.1
  can_be_upgraded_to:
      - 4.3.0.0
      - 4.2.1.2
  require_from_binary:
    value: True
    when_come_from: [4.1.0.0, 4.1.0.1, 4.1.0.2, 4.2.0.0]
"#;
