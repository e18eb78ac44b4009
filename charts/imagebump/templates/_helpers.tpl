{{/*
Names and labels.
*/}}
{{- define "imagebump.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "imagebump.fullname" -}}
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

{{- define "imagebump.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "imagebump.selectorLabels" -}}
app.kubernetes.io/name: {{ include "imagebump.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "imagebump.labels" -}}
helm.sh/chart: {{ include "imagebump.chart" . }}
{{ include "imagebump.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: imagebump
{{- end }}

{{- define "imagebump.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "imagebump.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "imagebump.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Fixed paths inside the container.
*/}}
{{- define "imagebump.configPath" -}}/etc/imagebump/imagebump.toml{{- end }}
{{- define "imagebump.secretsDir" -}}/etc/imagebump/secrets{{- end }}
{{- define "imagebump.dataDir" -}}/var/lib/imagebump{{- end }}
{{- define "imagebump.dockerConfigPath" -}}/etc/imagebump/docker/config.json{{- end }}

{{/*
The config.json the chart writes for config.registry.credHelpers and
credsStore (empty when neither is set); docker_config names it.
*/}}
{{- define "imagebump.dockerConfig" -}}
{{- $r := .Values.config.registry }}
{{- if or $r.credHelpers $r.credsStore }}
{{- $out := dict }}
{{- with $r.credHelpers }}{{ $_ := set $out "credHelpers" . }}{{ end }}
{{- with $r.credsStore }}{{ $_ := set $out "credsStore" . }}{{ end }}
{{- toPrettyJson $out }}
{{- end }}
{{- end }}

{{/*
A registry host as a path segment ("host:5000" -> "host_5000").
*/}}
{{- define "imagebump.hostDir" -}}
{{- regexReplaceAll "[^A-Za-z0-9._-]" . "_" }}
{{- end }}

{{/*
Every Secret key mounted as a file, as a JSON list of
{"secret", "key", "path"} (path relative to imagebump.secretsDir). The
ConfigMap's *_file keys name the same paths.
*/}}
{{- define "imagebump.secretFiles" -}}
{{- $files := list }}
{{- $c := .Values.config }}
{{- with $c.git.signingKey }}
{{- if .existingSecret }}
{{- $files = append $files (dict "secret" .existingSecret "key" .key "path" "git/signing-key") }}
{{- end }}
{{- end }}
{{- with $c.registry.dockerConfig }}
{{- if .existingSecret }}
{{- $files = append $files (dict "secret" .existingSecret "key" .key "path" "registry/config.json") }}
{{- end }}
{{- end }}
{{- range $host, $h := $c.registry.hosts }}
{{- $dir := printf "registry/hosts/%s" (include "imagebump.hostDir" $host) }}
{{- with $h.password }}
{{- $files = append $files (dict "secret" .existingSecret "key" .key "path" (printf "%s/password" $dir)) }}
{{- end }}
{{- with $h.token }}
{{- $files = append $files (dict "secret" .existingSecret "key" .key "path" (printf "%s/token" $dir)) }}
{{- end }}
{{- end }}
{{- range $source, $h := $c.hooks }}
{{- range $i, $s := $h.secrets }}
{{- $files = append $files (dict "secret" $s.existingSecret "key" $s.key "path" (printf "hooks/%s/%d" $source $i)) }}
{{- end }}
{{- end }}
{{- range $i, $d := $c.discover }}
{{- with $d.token }}
{{- $files = append $files (dict "secret" .existingSecret "key" .key "path" (printf "discover/%d/token" $i)) }}
{{- end }}
{{- with $d.githubApp }}
{{- $files = append $files (dict "secret" .privateKey.existingSecret "key" .privateKey.key "path" (printf "discover/%d/github-app.pem" $i)) }}
{{- end }}
{{- end }}
{{- range $c.repos }}
{{- $repo := . }}
{{- with .token }}
{{- $files = append $files (dict "secret" .existingSecret "key" .key "path" (printf "repos/%s/token" $repo.name)) }}
{{- end }}
{{- with .githubApp }}
{{- $files = append $files (dict "secret" .privateKey.existingSecret "key" .privateKey.key "path" (printf "repos/%s/github-app.pem" $repo.name)) }}
{{- end }}
{{- end }}
{{- toJson $files }}
{{- end }}

{{/*
Refuses values that would deploy a broken service (values.schema.json says
the same where JSON Schema can).
*/}}
{{- define "imagebump.validate" -}}
{{- $replicas := int .Values.replicaCount }}
{{- if and (gt $replicas 1) (ne .Values.store.type "postgres") }}
{{- fail (printf "\n\nimagebump: replicaCount is %d but store.type is %q.\nSQLite is one file on one volume: several replicas need a shared Postgres store.\nSet store.type=postgres and store.postgres.existingSecret (a Secret holding the postgres:// URL), or replicaCount=1.\n" $replicas .Values.store.type) }}
{{- end }}
{{- if and (eq .Values.store.type "postgres") (not .Values.store.postgres.existingSecret) }}
{{- fail "\n\nimagebump: store.type is \"postgres\" but store.postgres.existingSecret is empty.\nName an existing Secret whose key store.postgres.key holds the postgres:// URL; the URL is never written in values.\n" }}
{{- end }}
{{- $r := .Values.config.registry }}
{{- if and $r.dockerConfig.existingSecret (or $r.credHelpers $r.credsStore) }}
{{- fail (printf "\n\nimagebump: config.registry.credHelpers/credsStore and config.registry.dockerConfig.existingSecret are both set.\nimagebump reads one Docker config.json: put \"credHelpers\" into the config.json of Secret %s, or give the other registries config.registry.hosts credentials instead of the Secret.\n" $r.dockerConfig.existingSecret) }}
{{- end }}
{{- range $i, $d := .Values.config.discover }}
{{- if and (eq $d.forge "gitlab") (not $d.group) }}
{{- fail (printf "\n\nimagebump: config.discover[%d] (forge gitlab) needs group: the path or id of the group whose projects are managed.\n" $i) }}
{{- end }}
{{- if and (eq $d.forge "github") (not $d.githubApp) (not (and $d.token $d.owner)) }}
{{- fail (printf "\n\nimagebump: config.discover[%d] (forge github) needs githubApp (the installation's repositories) or token and owner (an organisation's or user's).\n" $i) }}
{{- end }}
{{- end }}
{{- $names := dict }}
{{- range .Values.config.repos }}
{{- if hasKey $names .name }}
{{- fail (printf "\n\nimagebump: config.repos has two repositories named %q; names must be unique.\n" .name) }}
{{- end }}
{{- $_ := set $names .name true }}
{{- if and (eq .forge "github") (not .token) (not .githubApp) }}
{{- fail (printf "\n\nimagebump: config.repos %q (forge github) needs token or githubApp.\n" .name) }}
{{- end }}
{{- if and (eq .forge "gitlab") (not .token) }}
{{- fail (printf "\n\nimagebump: config.repos %q (forge gitlab) needs token.\n" .name) }}
{{- end }}
{{- if and .githubApp (ne .forge "github") }}
{{- fail (printf "\n\nimagebump: config.repos %q: githubApp only applies to forge github.\n" .name) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
PromQL matchers selecting this release's series.
*/}}
{{- define "imagebump.promSelector" -}}
{{- default (printf "namespace=%q, job=%q" .Release.Namespace (include "imagebump.fullname" .)) .Values.metrics.prometheusRule.selector }}
{{- end }}

{{/*
A number as a TOML float (1 -> 1.0).
*/}}
{{- define "imagebump.tomlFloat" -}}
{{- $f := . | float64 }}
{{- if eq $f (floor $f) }}{{ printf "%.1f" $f }}{{ else }}{{ $f }}{{ end }}
{{- end }}
