{{/* The names of the operator's leader Leases as a PromQL regular expression
     (in a double-quoted PromQL string): leaderElection.id, and
     leaderElection.id-<shard> for the Deployments of a sharded install. */}}
{{- define "keyport.leaseRegex" -}}
{{- printf "%s(-.+)?" (regexQuoteMeta .Values.leaderElection.id) | replace "\\" "\\\\" }}
{{- end }}
