{{/* Names, truncated to the 63 characters Kubernetes allows. */}}
{{- define "depot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "depot.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "depot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every resource carries. */}}
{{- define "depot.commonLabels" -}}
helm.sh/chart: {{ include "depot.chart" . }}
app.kubernetes.io/name: {{ include "depot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: depot
{{- end }}

{{/* The server's resources. The component keeps the migration Job's and the
     test's pods out of the Service's selector. */}}
{{- define "depot.labels" -}}
{{ include "depot.commonLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "depot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "depot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{- define "depot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "depot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "depot.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The Secret the pods read: the user's, or the chart's. */}}
{{- define "depot.secretName" -}}
{{- default (include "depot.fullname" .) .Values.existingSecret }}
{{- end }}

{{/* The Secret the migration Job reads: a hook Secret of its own unless existingSecret,
     because hooks run before the chart's ordinary resources exist on first install. */}}
{{- define "depot.migrationSecretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else }}
{{- printf "%s-migration" (include "depot.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "depot.embedded" -}}
{{- if or (eq .Values.database.type "sqlite") (eq .Values.storage.type "local") }}true{{ end }}
{{- end }}

{{- define "depot.migrationJob" -}}
{{- if and .Values.migration.enabled (eq .Values.database.type "postgres") }}true{{ end }}
{{- end }}

{{/* s3://BUCKET[/PREFIX] */}}
{{- define "depot.storageUrl" -}}
{{- if .Values.s3.prefix }}
{{- printf "s3://%s/%s" .Values.s3.bucket (trimAll "/" .Values.s3.prefix) }}
{{- else }}
{{- printf "s3://%s" .Values.s3.bucket }}
{{- end }}
{{- end }}

{{/* Refuse settings that cannot work; included by every template that depends on them. */}}
{{- define "depot.validate" -}}
{{- $scaled := or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled }}
{{- if and $scaled (include "depot.embedded" .) }}
{{- fail "replicaCount > 1 and autoscaling need database.type=postgres and storage.type=s3: the embedded SQLite file and local blobs belong to one pod" }}
{{- end }}
{{- if and (eq .Values.database.type "postgres") (not .Values.database.url) (not .Values.existingSecret) }}
{{- fail "database.type=postgres needs database.url, or existingSecret with the key database-url" }}
{{- end }}
{{- if and (eq .Values.storage.type "s3") (not .Values.s3.bucket) }}
{{- fail "storage.type=s3 needs s3.bucket" }}
{{- end }}
{{- if and (or .Values.s3.accessKeyId .Values.s3.secretAccessKey) (not (and .Values.s3.accessKeyId .Values.s3.secretAccessKey)) }}
{{- fail "s3.accessKeyId and s3.secretAccessKey go together" }}
{{- end }}
{{- if and .Values.persistence.enabled $scaled }}
{{- fail "persistence is for the embedded single-replica mode; with PostgreSQL and S3 depot keeps nothing on disk" }}
{{- end }}
{{- end }}

{{/* depot's non-secret environment (the ConfigMap's data). Empty settings are
     left out, so depot's defaults apply rather than an empty value. */}}
{{- define "depot.configData" -}}
DEPOT_LISTEN: "0.0.0.0:8080"
DEPOT_DATA_DIR: {{ .Values.dataDir | quote }}
{{- if eq .Values.storage.type "s3" }}
DEPOT_STORAGE_URL: {{ include "depot.storageUrl" . | quote }}
{{- with .Values.s3.endpoint }}
DEPOT_S3_ENDPOINT: {{ . | quote }}
{{- end }}
{{- with .Values.s3.region }}
DEPOT_S3_REGION: {{ . | quote }}
{{- end }}
{{- with .Values.s3.publicEndpoint }}
DEPOT_S3_PUBLIC_ENDPOINT: {{ . | quote }}
{{- end }}
{{- if ne (toString .Values.s3.unsignedPayload) "" }}
DEPOT_S3_UNSIGNED_PAYLOAD: {{ .Values.s3.unsignedPayload | toString | quote }}
{{- end }}
{{- end }}
{{- with .Values.config.publicUrl }}
DEPOT_PUBLIC_URL: {{ . | quote }}
{{- end }}
{{- with .Values.config.downloadRedirect }}
DEPOT_DOWNLOAD_REDIRECT: {{ . | quote }}
{{- end }}
{{- with .Values.config.corsOrigins }}
DEPOT_CORS_ORIGIN: {{ join "," . | quote }}
{{- end }}
{{- with .Values.config.presignTtl }}
DEPOT_PRESIGN_TTL: {{ . | quote }}
{{- end }}
{{- with .Values.config.maxUploadSize }}
DEPOT_MAX_UPLOAD_SIZE: {{ . | quote }}
{{- end }}
{{- with .Values.config.uploadIdleTimeout }}
DEPOT_UPLOAD_IDLE_TIMEOUT: {{ . | quote }}
{{- end }}
{{- with .Values.config.uploadExpiry }}
DEPOT_UPLOAD_EXPIRY: {{ . | quote }}
{{- end }}
{{- with .Values.config.gcInterval }}
DEPOT_GC_INTERVAL: {{ . | quote }}
{{- end }}
{{- with .Values.config.gcGrace }}
DEPOT_GC_GRACE: {{ . | quote }}
{{- end }}
{{- with .Values.config.upgradeChunkSize }}
DEPOT_UPGRADE_CHUNK_SIZE: {{ . | quote }}
{{- end }}
{{- with .Values.config.logFormat }}
DEPOT_LOG_FORMAT: {{ . | quote }}
{{- end }}
{{- with .Values.config.rustLog }}
RUST_LOG: {{ . | quote }}
{{- end }}
{{- if include "depot.migrationJob" . }}
# The pre-install/pre-upgrade Job has migrated the database.
DEPOT_NO_MIGRATE: "true"
{{- end }}
{{- range $key, $value := .Values.config.extraEnv }}
{{ $key }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/* Secret-backed environment; call with (dict "ctx" $ "secret" NAME). */}}
{{- define "depot.secretEnv" -}}
{{- $ctx := .ctx }}
{{- if eq $ctx.Values.database.type "postgres" }}
- name: DEPOT_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: database-url
{{- end }}
{{- if eq $ctx.Values.storage.type "s3" }}
# Optional: absent with workload identity (IRSA and the like).
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: s3-access-key-id
      optional: true
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: s3-secret-access-key
      optional: true
{{- end }}
- name: DEPOT_ADMIN_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: admin-password
      optional: true
{{- end }}
