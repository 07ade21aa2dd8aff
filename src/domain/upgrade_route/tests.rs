//! Unit tests for the planner's rules. The fixture is the seed's sample
//! `UpgradeDepYaml`, verbatim (its header comment included).

use super::*;

const SEED_YAML: &str = r#"# 描述oceanbase各个版本升级依赖关系
# 参考文档 release/ptw5y7

# 对于每一个正式发布的ob版本，在下面的yaml文档中添加一项，包括如下属性：
#  * version: 待升级的版本，或者升级过程中经过的版本；一般用A.B.C的版本号，如果是A.B.C-D的形式，表示build号必须大于等于D
#  * can_be_upgraded_to: 表示该版本经过OB QA兼容性测试，可以*直接*升级到的ob版本号，是一个列表可以包括多个版本
#  * deprecated: 缺省为False。如果为True，表示这个版本已经废除。可以作
#     为升级的起点，可以作为升级过度版本，但是不能作为升级目标版本。
#  * require_from_binary: 缺省为False。如果为True，表示升级过程中如果作为中间版本，除了运行upgrade脚本，还需要把observer也升级到该版本
#

# OCP的OB升级模块会读取本文件，给定升级的起始版本和目标版本，自动在满
# 足上述约束的情况下寻找一个升级的最短路径。基本算法是：
# 基于如下描述构建一个图，每个版本一个结点，can_be_upgraded_to关系定义
# 一条边，寻找起始版本和升级目标两个版本之间的最短路径。除了起始点，其
# 他节点不能是deprecated。如果有A.B.C和A.B.C-D两种节点匹配，优先选择后
# 者。
#

- version: 4.0.0.0
  can_be_upgraded_to:
      - 4.1.0.0

# 4.1.0.x is barrier
- version: 4.1.0.0-100000192023032010   # 4.1 BETA版本 不能作为目标版本
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

- version: 4.2.0.0-100000152023080109   # 4.2 RC2版本 不能作为目标版本
  can_be_upgraded_to:
    - 4.2.0.0
  deprecated: True

- version: 4.2.0.0-100010022023081817   # 4.2 RC2 hotfix版本 不能作为目标版本
  can_be_upgraded_to:
    - 4.2.0.0
  deprecated: True

- version: 4.2.0.0
  can_be_upgraded_to:
      - 4.2.1.0

# 4.2.1.x is barrier
- version: 4.2.1.0
  can_be_upgraded_to:
      - 4.2.1.1

- version: 4.2.1.1
  can_be_upgraded_to:
      - 4.3.0.0
  require_from_binary:
    value: True
    when_come_from: [4.1.0.0, 4.1.0.1, 4.1.0.2, 4.2.0.0]
"#;

/// The seed's graph plus the edge 4.2.1.1 → 4.2.1.2 of later releases, as
/// obshell.md builds its reference routes.
fn reference_graph() -> UpgradeGraph {
    let edge = "      - 4.3.0.0\n";
    assert_eq!(SEED_YAML.matches(edge).count(), 1);
    let yaml = SEED_YAML.replace(edge, "      - 4.3.0.0\n      - 4.2.1.2\n");
    parse_dep_yaml(&yaml).expect("reference graph parses")
}

fn graph(yaml: &str) -> UpgradeGraph {
    parse_dep_yaml(yaml).unwrap_or_else(|e| panic!("test graph must parse: {e}"))
}

fn texts(versions: &[Version]) -> Vec<String> {
    versions.iter().map(Version::to_string).collect()
}

#[track_caller]
fn assert_route(g: &UpgradeGraph, from: &str, to: &str, hops: &[&str], binary: &[&str]) {
    let route = plan(g, from, to).unwrap_or_else(|e| panic!("{from} → {to}: {e}"));
    assert_eq!(texts(&route.hops), hops, "hops {from} → {to}");
    assert_eq!(
        texts(&route.binary_route),
        binary,
        "binary route {from} → {to}"
    );
}

fn v(text: &str) -> Version {
    Version::parse(text).unwrap()
}

#[test]
fn reference_route_from_4_0_to_4_2_1_2() {
    assert_route(
        &reference_graph(),
        "4.0.0.0",
        "4.2.1.2",
        &[
            "4.0.0.0", "4.1.0.0", "4.1.0.1", "4.1.0.2", "4.2.0.0", "4.2.1.0", "4.2.1.1", "4.2.1.2",
        ],
        &["4.0.0.0", "4.1.0.2", "4.2.1.1", "4.2.1.2"],
    );
}

#[test]
fn reference_route_from_4_1_0_1_to_4_2_1_0() {
    assert_route(
        &reference_graph(),
        "4.1.0.1",
        "4.2.1.0",
        &["4.1.0.1", "4.1.0.2", "4.2.0.0", "4.2.1.0"],
        &["4.1.0.1", "4.2.1.0"],
    );
}

#[test]
fn seed_graph_shape() {
    let g = graph(SEED_YAML);
    // 10 entries plus the edge-only target 4.3.0.0; one edge per entry.
    assert_eq!(g.node_count(), 11);
    assert_eq!(g.edge_count(), 10);
    // Without the extra edge, 4.2.1.2 is unknown.
    let err = plan(&g, "4.0.0.0", "4.2.1.2").unwrap_err();
    assert!(matches!(err, PlanError::UnknownTarget { .. }), "{err}");
    assert_route(
        &g,
        "4.2.0.0",
        "4.3.0.0",
        &["4.2.0.0", "4.2.1.0", "4.2.1.1", "4.3.0.0"],
        &["4.2.0.0", "4.2.1.1", "4.3.0.0"],
    );
}

#[test]
fn a_downgrade_has_no_route() {
    let err = plan(&reference_graph(), "4.2.1.0", "4.0.0.0").unwrap_err();
    assert_eq!(
        err,
        PlanError::NoRoute {
            from: v("4.2.1.0"),
            to: v("4.0.0.0"),
            only_through: None
        }
    );
    assert_eq!(
        err.to_string(),
        "no upgrade route from 4.2.1.0 to 4.0.0.0: the target is older than the start"
    );
}

#[test]
fn disconnected_versions_have_no_route() {
    let g = graph("- version: 1.0.0.0\n  can_be_upgraded_to: [1.1.0.0]\n- version: 2.0.0.0\n");
    let err = plan(&g, "1.0.0.0", "2.0.0.0").unwrap_err();
    assert!(
        matches!(
            err,
            PlanError::NoRoute {
                only_through: None,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("no path"), "{err}");
}

#[test]
fn unknown_start() {
    let err = plan(&reference_graph(), "3.1.0.0", "4.2.1.0").unwrap_err();
    assert_eq!(
        err,
        PlanError::UnknownStart {
            version: v("3.1.0.0"),
            similar: vec![]
        }
    );
    assert_eq!(
        err.to_string(),
        "start version 3.1.0.0 is not in the upgrade graph"
    );
}

#[test]
fn unknown_target() {
    let err = plan(&reference_graph(), "4.0.0.0", "9.9.9.9").unwrap_err();
    assert!(matches!(err, PlanError::UnknownTarget { .. }), "{err}");
    assert!(err.to_string().contains("target version 9.9.9.9"), "{err}");
}

#[test]
fn unknown_start_hints_at_build_nodes() {
    // Only a -BUILD node exists: a version without a build, or an older
    // build, is not covered by it.
    let g = graph("- version: 4.5.0.0-100\n  can_be_upgraded_to: [4.6.0.0]\n");
    for from in ["4.5.0.0", "4.5.0.0-99"] {
        let err = plan(&g, from, "4.6.0.0").unwrap_err();
        assert!(matches!(err, PlanError::UnknownStart { .. }), "{err}");
        assert!(err.to_string().contains("it has 4.5.0.0-100"), "{err}");
    }
    assert!(plan(&g, "4.5.0.0-100", "4.6.0.0").is_ok());
}

#[test]
fn invalid_input_versions() {
    let g = reference_graph();
    let err = plan(&g, "latest", "4.2.1.0").unwrap_err();
    assert!(
        matches!(err, PlanError::InvalidVersion { role: "start", .. }),
        "{err}"
    );
    let err = plan(&g, "4.0.0.0", "4.2.1.0-x").unwrap_err();
    assert!(
        matches!(err, PlanError::InvalidVersion { role: "target", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("\"4.2.1.0-x\""), "{err}");
}

#[test]
fn deprecated_target_is_refused() {
    let g = reference_graph();
    // Exactly the RC2 hotfix entry, a later build it covers, and a build
    // between RC2 and its hotfix (covered by RC2).
    for (to, node) in [
        ("4.2.0.0-100010022023081817", "4.2.0.0-100010022023081817"),
        ("4.2.0.0-100010022023090000", "4.2.0.0-100010022023081817"),
        ("4.2.0.0-100000152023080200", "4.2.0.0-100000152023080109"),
    ] {
        let err = plan(&g, "4.1.0.2", to).unwrap_err();
        assert_eq!(
            err,
            PlanError::DeprecatedTarget {
                version: v(to),
                node: v(node)
            }
        );
        assert!(err.to_string().contains("deprecated"), "{err}");
    }
    // Without a build the plain, non-deprecated 4.2.0.0 is the target.
    assert_route(
        &g,
        "4.1.0.2",
        "4.2.0.0",
        &["4.1.0.2", "4.2.0.0"],
        &["4.1.0.2", "4.2.0.0"],
    );
}

#[test]
fn deprecated_start_is_allowed() {
    let g = reference_graph();
    // The 4.1 beta starts a route, and 4.1.0.2's when_come_from names it.
    assert_route(
        &g,
        "4.1.0.0-100000192023032010",
        "4.2.1.0",
        &[
            "4.1.0.0-100000192023032010",
            "4.1.0.0",
            "4.1.0.1",
            "4.1.0.2",
            "4.2.0.0",
            "4.2.1.0",
        ],
        &["4.1.0.0-100000192023032010", "4.1.0.2", "4.2.1.0"],
    );
    assert_route(
        &g,
        "4.2.0.0-100000152023080109",
        "4.2.1.1",
        &[
            "4.2.0.0-100000152023080109",
            "4.2.0.0",
            "4.2.1.0",
            "4.2.1.1",
        ],
        &["4.2.0.0-100000152023080109", "4.2.1.1"],
    );
}

#[test]
fn deprecated_nodes_are_never_intermediate() {
    let yaml = "
- version: 1.0.0.0
  can_be_upgraded_to: [1.1.0.0, 1.5.0.0]
- version: 1.1.0.0
  can_be_upgraded_to: [2.0.0.0]
  deprecated: true
- version: 1.5.0.0
  can_be_upgraded_to: [1.6.0.0]
- version: 1.6.0.0
  can_be_upgraded_to: [2.0.0.0]
- version: 3.0.0.0
  can_be_upgraded_to: [3.1.0.0]
- version: 3.1.0.0
  can_be_upgraded_to: [3.2.0.0]
  deprecated: True
";
    let g = graph(yaml);
    // The two-hop path through deprecated 1.1.0.0 is skipped for a longer one.
    assert_route(
        &g,
        "1.0.0.0",
        "2.0.0.0",
        &["1.0.0.0", "1.5.0.0", "1.6.0.0", "2.0.0.0"],
        &["1.0.0.0", "2.0.0.0"],
    );
    let err = plan(&g, "3.0.0.0", "3.2.0.0").unwrap_err();
    assert_eq!(
        err,
        PlanError::NoRoute {
            from: v("3.0.0.0"),
            to: v("3.2.0.0"),
            only_through: Some(v("3.1.0.0"))
        }
    );
    assert!(
        err.to_string().contains("3.1.0.0, which is deprecated"),
        "{err}"
    );
}

#[test]
fn cycles_terminate() {
    let yaml = "
- version: 1.0.0.0
  can_be_upgraded_to: [1.1.0.0, 1.0.0.0]
- version: 1.1.0.0
  can_be_upgraded_to: [1.0.0.0, 1.2.0.0]
- version: 1.2.0.0
  can_be_upgraded_to: [1.0.0.0]
- version: 9.0.0.0
";
    let g = graph(yaml);
    assert_route(
        &g,
        "1.0.0.0",
        "1.2.0.0",
        &["1.0.0.0", "1.1.0.0", "1.2.0.0"],
        &["1.0.0.0", "1.2.0.0"],
    );
    assert_route(
        &g,
        "1.2.0.0",
        "1.1.0.0",
        &["1.2.0.0", "1.0.0.0", "1.1.0.0"],
        &["1.2.0.0", "1.1.0.0"],
    );
    let err = plan(&g, "1.0.0.0", "9.0.0.0").unwrap_err();
    assert!(matches!(err, PlanError::NoRoute { .. }), "{err}");
}

#[test]
fn start_equal_to_target_is_a_single_hop() {
    assert_route(
        &reference_graph(),
        "4.2.1.0",
        "4.2.1.0",
        &["4.2.1.0"],
        &["4.2.1.0"],
    );
}

#[test]
fn duplicate_version_entries_are_refused() {
    let yaml = "- version: 1.0.0.0\n  can_be_upgraded_to: [2.0.0.0]\n\n- version: 1.0.0.0\n";
    let err = parse_dep_yaml(yaml).unwrap_err();
    assert_eq!(
        err,
        GraphError::DuplicateVersion {
            version: v("1.0.0.0"),
            line: 4,
            first_line: 1
        }
    );
    assert_eq!(
        err.to_string(),
        "upgrade dependency YAML line 4: version 1.0.0.0 is declared twice (first at line 1)"
    );
    // The same version spelled differently is the same key.
    assert!(matches!(
        parse_dep_yaml("- version: 1.0.0.0\n- version: 1.00.0.0\n"),
        Err(GraphError::DuplicateVersion { .. })
    ));
    // A key repeated inside one entry is refused by the YAML layer.
    let err = parse_dep_yaml("- version: 1.0.0.0\n  version: 2.0.0.0\n").unwrap_err();
    assert_eq!(err.line(), Some(2));
    assert!(
        err.to_string().starts_with(
            "malformed upgrade dependency YAML at line 2, column 3: duplicate mapping key"
        ),
        "{err}"
    );
}

#[test]
fn malformed_yaml_names_the_line() {
    let cases = [
        (
            "- version: 1.0.0.0\n  can_be_upgraded_to: [1.1.0.0\n- version: 2.0.0.0\n",
            3,
        ),
        ("- version: 1.0.0.0\n   bad: indent\n", 2),
        ("- version: 1.0.0.0\n  deprecated: maybe\n", 2),
        ("- version: 1.0.0.0\n- can_be_upgraded_to: [1.1.0.0]\n", 2),
        ("version: 1.0.0.0\n", 1),
        ("- version: 1.0.0.0\n  can_be_upgraded_to: 1.1.0.0\n", 2),
        ("- version: 1.0.0.0\n  require_from_binary: 3\n", 2),
    ];
    for (yaml, line) in cases {
        let err = parse_dep_yaml(yaml).unwrap_err();
        assert_eq!(err.line(), Some(line), "{yaml:?}: {err}");
        let text = err.to_string();
        assert!(text.contains(&format!("line {line}")), "{text}");
        assert!(
            !text.contains('\n'),
            "one line for an HTTP answer: {text:?}"
        );
    }
}

#[test]
fn bad_versions_name_the_line_and_field() {
    let err = parse_dep_yaml("- version: 1.0.0.0\n- version: 4.1\n").unwrap_err();
    assert_eq!(err.line(), Some(2));
    assert_eq!(
        err.to_string(),
        "upgrade dependency YAML line 2, `version`: invalid version \"4.1\": \
         expected A.B.C.D or A.B.C.D-BUILD (too few numbers)"
    );
    let err =
        parse_dep_yaml("- version: 1.0.0.0\n  can_be_upgraded_to:\n    - 1.1.0.0\n    - 1.2.x.0\n")
            .unwrap_err();
    assert_eq!(err.line(), Some(4));
    assert!(err.to_string().contains("`can_be_upgraded_to`"), "{err}");
    let err = parse_dep_yaml(
        "- version: 1.0.0.0\n  require_from_binary:\n    value: true\n    when_come_from: [0.9.0.0, 0.9-1]\n",
    )
    .unwrap_err();
    assert_eq!(err.line(), Some(4));
    assert!(err.to_string().contains("`when_come_from`"), "{err}");
}

#[test]
fn require_from_binary_needs_a_value() {
    let err = parse_dep_yaml(
        "- version: 1.0.0.0\n  require_from_binary:\n    when_come_from: [0.9.0.0]\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("missing field `value`"), "{err}");
    assert!(err.line().is_some(), "{err}");
}

#[test]
fn empty_file_is_an_empty_graph() {
    for yaml in ["", "# only a comment\n", "[]"] {
        let g = graph(yaml);
        assert_eq!((g.node_count(), g.edge_count()), (0, 0));
        assert!(matches!(
            plan(&g, "1.0.0.0", "2.0.0.0"),
            Err(PlanError::UnknownStart { .. })
        ));
    }
}

#[test]
fn build_nodes_are_preferred_and_cover_higher_builds() {
    let yaml = "
- version: 4.3.0.0
  can_be_upgraded_to: [4.4.0.0]
- version: 4.3.0.0-100
  can_be_upgraded_to: [4.3.5.0]
- version: 4.3.0.0-200
  can_be_upgraded_to: [4.3.6.0]
- version: 4.3.5.0
  can_be_upgraded_to: [4.4.0.0]
- version: 4.3.6.0
  can_be_upgraded_to: [4.4.0.0]
";
    let g = graph(yaml);
    for (concrete, node) in [
        ("4.3.0.0", "4.3.0.0"),
        ("4.3.0.0-50", "4.3.0.0"),
        ("4.3.0.0-100", "4.3.0.0-100"),
        ("4.3.0.0-150", "4.3.0.0-100"),
        ("4.3.0.0-200", "4.3.0.0-200"),
        ("4.3.0.0-999999999999999999", "4.3.0.0-200"),
    ] {
        assert_eq!(g.matching_node(&v(concrete)), Some(&v(node)), "{concrete}");
    }
    assert_eq!(
        g.matching_node(&v("4.3.0")),
        None,
        "three numbers are another version"
    );
    assert_route(
        &g,
        "4.3.0.0-50",
        "4.4.0.0",
        &["4.3.0.0", "4.4.0.0"],
        &["4.3.0.0", "4.4.0.0"],
    );
    assert_route(
        &g,
        "4.3.0.0-150",
        "4.4.0.0",
        &["4.3.0.0-100", "4.3.5.0", "4.4.0.0"],
        &["4.3.0.0-100", "4.4.0.0"],
    );
    assert_route(
        &g,
        "4.3.0.0-250",
        "4.4.0.0",
        &["4.3.0.0-200", "4.3.6.0", "4.4.0.0"],
        &["4.3.0.0-200", "4.4.0.0"],
    );
    let route = plan(&g, "4.3.0.0-150", "4.4.0.0-7").unwrap();
    assert_eq!((route.from, route.to), (v("4.3.0.0-150"), v("4.4.0.0-7")));
}

#[test]
fn when_come_from_is_checked_against_the_previous_barrier() {
    // b always needs its binary; c only after a; d only after b.
    let yaml = "
- version: 1.0.0.0
  can_be_upgraded_to: [1.1.0.0]
- version: 1.1.0.0
  can_be_upgraded_to: [1.2.0.0]
  require_from_binary: True
- version: 1.2.0.0
  can_be_upgraded_to: [1.3.0.0]
  require_from_binary: {value: True, when_come_from: [1.0.0.0]}
- version: 1.3.0.0
  can_be_upgraded_to: [1.4.0.0]
  require_from_binary: {value: True, when_come_from: [1.1.0.0]}
- version: 1.4.0.0
";
    let g = graph(yaml);
    let all = ["1.0.0.0", "1.1.0.0", "1.2.0.0", "1.3.0.0", "1.4.0.0"];
    assert_route(
        &g,
        "1.0.0.0",
        "1.4.0.0",
        &all,
        &["1.0.0.0", "1.1.0.0", "1.3.0.0", "1.4.0.0"],
    );
    // Starting at b: c's list names a, not b; d's names b, the start.
    assert_route(
        &g,
        "1.1.0.0",
        "1.4.0.0",
        &all[1..],
        &["1.1.0.0", "1.3.0.0", "1.4.0.0"],
    );
    // Starting at c: neither list names c.
    assert_route(&g, "1.2.0.0", "1.4.0.0", &all[2..], &["1.2.0.0", "1.4.0.0"]);
}

#[test]
fn when_come_from_matches_by_version_and_build() {
    let yaml = "
- version: 1.0.0.0
  can_be_upgraded_to: [1.1.0.0]
- version: 1.1.0.0
  can_be_upgraded_to: [1.2.0.0]
  require_from_binary:
    value: true
    when_come_from: [1.0.0.0-500]
- version: 1.2.0.0
  can_be_upgraded_to: [1.3.0.0]
  require_from_binary:
    value: false
- version: 1.3.0.0
  can_be_upgraded_to: [1.4.0.0]
  require_from_binary: {value: true, when_come_from: []}
- version: 1.4.0.0
";
    let g = graph(yaml);
    let hops = ["1.0.0.0", "1.1.0.0", "1.2.0.0", "1.3.0.0", "1.4.0.0"];
    // The start's own build decides whether 1.0.0.0-500 names it.
    assert_route(
        &g,
        "1.0.0.0-700",
        "1.4.0.0",
        &hops,
        &["1.0.0.0", "1.1.0.0", "1.4.0.0"],
    );
    assert_route(
        &g,
        "1.0.0.0-500",
        "1.4.0.0",
        &hops,
        &["1.0.0.0", "1.1.0.0", "1.4.0.0"],
    );
    assert_route(&g, "1.0.0.0-499", "1.4.0.0", &hops, &["1.0.0.0", "1.4.0.0"]);
    assert_route(&g, "1.0.0.0", "1.4.0.0", &hops, &["1.0.0.0", "1.4.0.0"]);
}

#[test]
fn ties_take_the_lowest_versions_whatever_the_listing_order() {
    for list in ["[1.2.0.0, 1.1.0.0]", "[1.1.0.0, 1.2.0.0]"] {
        let yaml = format!(
            "- version: 1.0.0.0\n  can_be_upgraded_to: {list}\n\
             - version: 1.2.0.0\n  can_be_upgraded_to: [2.0.0.0]\n\
             - version: 1.1.0.0\n  can_be_upgraded_to: [2.0.0.0, 2.0.0.0]\n"
        );
        let g = graph(&yaml);
        assert_eq!(g.edge_count(), 4, "the repeated edge counts once");
        assert_route(
            &g,
            "1.0.0.0",
            "2.0.0.0",
            &["1.0.0.0", "1.1.0.0", "2.0.0.0"],
            &["1.0.0.0", "2.0.0.0"],
        );
    }
}

#[test]
fn version_parsing_and_order() {
    assert_eq!(
        v(" 4.2.1.1-101000062023110109 ").to_string(),
        "4.2.1.1-101000062023110109"
    );
    assert_eq!(
        v("4.2.1.1-101000062023110109").build(),
        Some(101_000_062_023_110_109)
    );
    assert_eq!(v("3.1.2").numbers(), &[3, 1, 2]);
    for bad in [
        "",
        "4",
        "4.1",
        "4.1.0.0.0",
        "4.1.0.0-",
        "4.1.0.0-1-2",
        "4.1.a.0",
        "+4.1.0.0",
        "4..0.0",
        "4.1.0.0-99999999999999999999",
    ] {
        assert!(Version::parse(bad).is_err(), "{bad:?} must be refused");
    }
    let mut sorted = vec![
        v("4.10.0.0"),
        v("4.2.0.0-10"),
        v("4.2.0.0-9"),
        v("4.2.0.0"),
        v("4.1.0.0"),
    ];
    sorted.sort();
    assert_eq!(
        texts(&sorted),
        ["4.1.0.0", "4.2.0.0", "4.2.0.0-9", "4.2.0.0-10", "4.10.0.0"]
    );
    assert!(v("4.2.0.0").matches(&v("4.2.0.0-1")));
    assert!(!v("4.2.0.0-2").matches(&v("4.2.0.0-1")));
    assert!(!v("4.2.0.0-2").matches(&v("4.2.0.0")));
    assert!(!v("4.2.0.0").matches(&v("4.2.0.1")));
}
