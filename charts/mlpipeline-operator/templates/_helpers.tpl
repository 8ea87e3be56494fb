{{/*
Names. The release name is the prefix of every object, so two releases in one
cluster never share a ClusterRole; a release called "mlpipeline" (or one whose
name holds it) gives the names deploy/rbac uses: mlpipeline-controller,
mlpipeline-stage, mlpipeline-ui.
*/}}
{{- define "mlpipeline.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains "mlpipeline" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-mlpipeline" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mlpipeline.controllerName" -}}
{{- printf "%s-controller" (include "mlpipeline.fullname" .) -}}
{{- end -}}

{{- define "mlpipeline.uiName" -}}
{{- printf "%s-ui" (include "mlpipeline.fullname" .) -}}
{{- end -}}

{{/* The ServiceAccount stage pods run as, in every namespace that holds MLPipelines. */}}
{{- define "mlpipeline.stageServiceAccount" -}}
{{- .Values.stages.serviceAccountName | default (printf "%s-stage" (include "mlpipeline.fullname" .)) -}}
{{- end -}}

{{- define "mlpipeline.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "mlpipeline.labels" -}}
app.kubernetes.io/name: mlpipeline-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector labels of one component: controller or ui. */}}
{{- define "mlpipeline.selectorLabels" -}}
app.kubernetes.io/name: mlpipeline-operator
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
A connection Secret as variables: its keys as the CRD documents them (url, or
host, port, user, password, database, ssl) under a prefix, each optional since
a Secret holds either a URL or the parts. Called with (dict "secret" NAME
"prefix" PREFIX); "prefix" defaults to the name upper-cased with every other
character as _, the rule stage pods follow (rds: RDS_URL, RDS_HOST, ...).
*/}}
{{- define "mlpipeline.connectionEnv" -}}
{{- $secret := .secret -}}
{{- $prefix := .prefix | default (regexReplaceAll "[^A-Z0-9]" (upper $secret) "_") -}}
{{- range $key := list "url" "host" "port" "user" "password" "database" "ssl" }}
- name: {{ $prefix }}_{{ upper $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- end -}}

{{/* The deployment's model store, and the credentials to read it when a Secret holds them. */}}
{{- define "mlpipeline.s3Env" -}}
{{- with .Values.s3.bucket }}
- name: S3_BUCKET
  value: {{ . | quote }}
{{- end }}
{{- with .Values.s3.prefix }}
- name: S3_PREFIX
  value: {{ . | quote }}
{{- end }}
{{- with .Values.s3.endpoint }}
- name: S3_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.s3.region }}
- name: S3_REGION
  value: {{ . | quote }}
{{- end }}
{{- with .Values.s3.credentialsSecretName }}
{{- $secret := . }}
{{- range $key := list "AWS_ACCESS_KEY_ID" "AWS_SECRET_ACCESS_KEY" "AWS_SESSION_TOKEN" }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- end }}
{{- end -}}

{{/* Restricted pod security: a numeric non-root user (the image's), no privilege, no capabilities. */}}
{{- define "mlpipeline.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "mlpipeline.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end -}}
