{{/*
secretValue renders one appSecrets.<name>: its value, or with existingSecret
a "secret:NAME/KEY" reference the test resolves against the Secrets the
kubectl commands create. The chart takes either; both set is an error, as
the real chart ignores one of them silently.
*/}}
{{- define "check.secretValue" -}}
{{- $s := .s -}}
{{- if and $s.value $s.existingSecret.name -}}
{{- fail (printf "%s: both value and existingSecret are set" .what) -}}
{{- else if $s.existingSecret.name -}}
{{- printf "secret:%s/%s" $s.existingSecret.name (required (printf "%s.existingSecret.key is required" .what) $s.existingSecret.key) -}}
{{- else -}}
{{- required (printf "%s.value is required" .what) $s.value -}}
{{- end -}}
{{- end -}}
