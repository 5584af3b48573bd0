{{/* Labels every object of the chart carries. */}}
{{- define "chord.labels" -}}
app.kubernetes.io/name: chord
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The prefix of every object's name: the release name. Pod names (<release>-rollout-worker-
     <hash>-<id>, <release>-learner-<n>) and the controller-revision-hash label must stay within
     63 characters, so a longer release name is refused rather than cut (cutting could make two
     releases collide). */}}
{{- define "chord.fullname" -}}
{{- if gt (len .Release.Name) 30 -}}
{{- fail (printf "release name %q is %d characters long; the chord chart needs 30 at most (pod names carry it)" .Release.Name (len .Release.Name)) -}}
{{- end -}}
{{- .Release.Name -}}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "learner"). */}}
{{- define "chord.selectorLabels" -}}
app.kubernetes.io/name: chord
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels of one component's objects: the chart's labels plus the component. */}}
{{- define "chord.componentLabels" -}}
{{ include "chord.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* In-cluster DNS name of a component's Service: <release>-<component>.<namespace>.svc */}}
{{- define "chord.serviceHost" -}}
{{- printf "%s-%s.%s.svc" (include "chord.fullname" .root) .component .root.Release.Namespace -}}
{{- end -}}

{{/* The learner's address for rollout workers and users in the cluster (rank 0's Service). */}}
{{- define "chord.learnerAddress" -}}
{{- printf "%s:%d" (include "chord.serviceHost" (dict "root" . "component" "learner")) (int .Values.ports.grpc) -}}
{{- end -}}

{{/* rank 0's stable DNS name through the headless Service (MASTER_ADDR). */}}
{{- define "chord.masterAddress" -}}
{{- $n := include "chord.fullname" . -}}
{{- printf "%s-learner-0.%s-learner-headless.%s.svc" $n $n .Release.Namespace -}}
{{- end -}}

{{- define "chord.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "chord.tokenSecretName" -}}
{{- .Values.auth.existingSecret | default (printf "%s-tokens" (include "chord.fullname" .)) -}}
{{- end -}}

{{- define "chord.tlsSecretName" -}}
{{- .Values.tls.existingSecret | default (printf "%s-tls" (include "chord.fullname" .)) -}}
{{- end -}}

{{/* Every DNS name a Chord service is dialled by: the TLS certificate's subjectAltNames. */}}
{{- define "chord.tlsDnsNames" -}}
{{- $n := include "chord.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- $names := list "localhost" -}}
{{- range $c := list "learner" "rollout-worker" "expert-buffer" "reward" -}}
{{- $names = concat $names (list (printf "%s-%s" $n $c) (printf "%s-%s.%s" $n $c $ns) (printf "%s-%s.%s.svc" $n $c $ns)) -}}
{{- end -}}
{{- toJson (concat $names .Values.tls.extraDnsNames) -}}
{{- end -}}

{{/* Values checks JSON Schema cannot express (comparisons between keys). */}}
{{- define "chord.validate" -}}
{{- if ge (int .Values.learner.shutdownGraceSeconds) (int .Values.learner.terminationGracePeriodSeconds) -}}
{{- fail (printf "learner.shutdownGraceSeconds (%d) must be less than learner.terminationGracePeriodSeconds (%d): a rank needs the grace to follow rank 0's last step and checkpoint before the kubelet kills it" (int .Values.learner.shutdownGraceSeconds) (int .Values.learner.terminationGracePeriodSeconds)) -}}
{{- end -}}
{{- if ge (int .Values.rolloutWorker.shutdownGraceSeconds) (int .Values.rolloutWorker.terminationGracePeriodSeconds) -}}
{{- fail (printf "rolloutWorker.shutdownGraceSeconds (%d) must be less than rolloutWorker.terminationGracePeriodSeconds (%d)" (int .Values.rolloutWorker.shutdownGraceSeconds) (int .Values.rolloutWorker.terminationGracePeriodSeconds)) -}}
{{- end -}}
{{- if gt (int .Values.rolloutWorker.autoscaling.minReplicas) (int .Values.rolloutWorker.autoscaling.maxReplicas) -}}
{{- fail (printf "rolloutWorker.autoscaling.minReplicas (%d) must not exceed maxReplicas (%d)" (int .Values.rolloutWorker.autoscaling.minReplicas) (int .Values.rolloutWorker.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- if and .Values.tls.enabled .Values.tls.existingSecret .Values.tls.certManager.enabled -}}
{{- fail "tls.existingSecret and tls.certManager.enabled: choose one source of the TLS Secret" -}}
{{- end -}}
{{- if and .Values.tls.enabled .Values.tls.certManager.enabled (not .Values.tls.certManager.issuerRef.name) -}}
{{- fail "tls.certManager.enabled needs tls.certManager.issuerRef.name (an Issuer or ClusterIssuer of cert-manager)" -}}
{{- end -}}
{{- end -}}

{{/* The pod-level security context of every Chord pod (the image's user, uid/gid 10001). */}}
{{- define "chord.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The security context of every container. */}}
{{- define "chord.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Flags every service gets: listen on the pod's addresses, metrics, log format, TLS or
     --insecure. (dict "root" $ "calls" bool "clientCerts" bool): calls = the service dials other
     Chord services (it then verifies them with the CA), clientCerts = it requires client
     certificates (mutual TLS). */}}
{{- define "chord.commonArgs" -}}
{{- $v := .root.Values -}}
- --host=0.0.0.0
- --port={{ $v.ports.grpc }}
- --metrics_host=0.0.0.0
- --metrics_port={{ $v.ports.metrics }}
- --log_format={{ $v.logFormat }}
- --log_level={{ $v.logLevel }}
{{- if $v.tls.enabled }}
- --tls_cert_file=/etc/chord/tls/tls.crt
- --tls_key_file=/etc/chord/tls/tls.key
{{- if .clientCerts }}
- --tls_client_ca_file=/etc/chord/tls/ca.crt
{{- end }}
{{- if .calls }}
- --tls_ca_file=/etc/chord/tls/ca.crt
{{- end }}
{{- else }}
- --insecure
{{- end }}
{{- end -}}

{{/* Volume mounts every Chord container has: /tmp, the token file(s), the TLS files. */}}
{{- define "chord.commonMounts" -}}
- name: tmp
  mountPath: /tmp
- name: tokens
  mountPath: /etc/chord/tokens
  readOnly: true
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: /etc/chord/tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* The volumes behind chord.commonMounts. (dict "root" $ "userToken" bool): only the learner
     holds the user token. */}}
{{- define "chord.commonVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .root.Values.tmpSizeLimit }}
- name: tokens
  secret:
    secretName: {{ include "chord.tokenSecretName" .root }}
    defaultMode: 0440
    items:
      - key: internal.token
        path: internal.token
      {{- if .userToken }}
      - key: user.token
        path: user.token
      {{- end }}
{{- if .root.Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ include "chord.tlsSecretName" .root }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{/* The gRPC probes of a container on the standard health service. Kubernetes' grpc probe speaks
     plaintext only, so with TLS on the probes check that the port accepts connections. (dict
     "root" $ "probes" .Values.<component>.probes) */}}
{{- define "chord.probes" -}}
{{- $port := .root.Values.ports.grpc -}}
{{- range $kind := list "startup" "readiness" "liveness" }}
{{- with index $.probes $kind }}
{{ $kind }}Probe:
  {{- if $.root.Values.tls.enabled }}
  tcpSocket:
    port: grpc
  {{- else }}
  grpc:
    port: {{ $port }}
  {{- end }}
  periodSeconds: {{ .periodSeconds }}
  timeoutSeconds: {{ .timeoutSeconds }}
  failureThreshold: {{ .failureThreshold }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Pod annotations: Prometheus' classic scrape annotations and the component's own. */}}
{{- define "chord.podAnnotations" -}}
{{- if .root.Values.metrics.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .root.Values.ports.metrics | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .annotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The container ports of every service. */}}
{{- define "chord.containerPorts" -}}
- name: grpc
  containerPort: {{ .Values.ports.grpc }}
  protocol: TCP
- name: metrics
  containerPort: {{ .Values.ports.metrics }}
  protocol: TCP
{{- end -}}

{{/* Scheduling and pull settings of a pod: (dict "root" $ "c" .Values.<component>) */}}
{{- define "chord.podScheduling" -}}
{{- with .root.Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- with .c.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/* An init container that creates directories on a volume (a --data_root or --model_root must
     exist when the service starts): (dict "root" $ "mounts" list "dirs" list) */}}
{{- define "chord.initDirs" -}}
- name: init-dirs
  image: {{ include "chord.image" .root }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  command: [mkdir, -p, {{ join ", " .dirs }}]
  securityContext:
    {{- include "chord.containerSecurityContext" .root | nindent 4 }}
  resources:
    requests: {cpu: 10m, memory: 16Mi}
    limits: {memory: 64Mi}
  volumeMounts:
    {{- toYaml .mounts | nindent 4 }}
{{- end -}}
