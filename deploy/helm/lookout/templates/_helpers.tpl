{{/* Names and labels. */}}
{{- define "lookout.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "lookout.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* selector labels of one component: (dict "root" $ "component" "dispatcher") */}}
{{- define "lookout.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "lookout.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ default (include "lookout.fullname" .) .Values.serviceAccount.name }}{{- else -}}{{ default "default" .Values.serviceAccount.name }}{{- end -}}
{{- end -}}

{{/* The task queue of a pool: <pipeline>-<pool> (core/pipelines.ts taskQueueFor). */}}
{{- define "lookout.taskQueue" -}}
{{ .root.Values.config.LOOKOUT_PIPELINE | default "objects" }}-{{ .pool }}
{{- end -}}

{{/*
One Deployment. (dict "root" $ "component" NAME "spec" VALUES "args" ARGS "gpu" BOOL "port" PORT_OR_0 "grace" SECONDS)
Probes hit cli/health.ts on .Values.healthPort: /readyz turns 200 when the process serves and 503 from SIGTERM on.
*/}}
{{- define "lookout.deployment" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "lookout.fullname" $root }}-{{ .component }}
  labels:
    {{- include "lookout.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  {{- if not (and .spec.autoscaling .spec.autoscaling.enabled $v.keda.enabled) }}
  replicas: {{ .spec.replicas }}
  {{- end }}
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      {{- include "lookout.selectorLabels" (dict "root" $root "component" .component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "lookout.selectorLabels" (dict "root" $root "component" .component) | nindent 8 }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- if $v.metrics.enabled }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $v.metrics.port | quote }}
        prometheus.io/path: {{ $v.metrics.path | quote }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "lookout.serviceAccountName" $root }}
      {{- with $v.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $v.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ .grace }}
      {{- with .spec.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .spec.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: "{{ $v.image.repository }}:{{ if .gpu }}{{ $v.image.gpuTag }}{{ else }}{{ $v.image.tag }}{{ end }}"
          imagePullPolicy: {{ $v.image.pullPolicy }}
          args:
            {{- toYaml .args | nindent 12 }}
          envFrom:
            - configMapRef:
                name: {{ include "lookout.fullname" $root }}
            {{- with $v.extraEnvFrom }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- with $v.extraEnv }}
          env:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          ports:
            - name: health
              containerPort: {{ $v.healthPort }}
            {{- if .port }}
            - name: http
              containerPort: {{ .port }}
            {{- end }}
            {{- if $v.metrics.enabled }}
            - name: metrics
              containerPort: {{ $v.metrics.port }}
            {{- end }}
          startupProbe:
            httpGet: {path: /healthz, port: health}
            {{- toYaml $v.probes.startup | nindent 12 }}
          livenessProbe:
            httpGet: {path: /healthz, port: health}
            {{- toYaml $v.probes.liveness | nindent 12 }}
          readinessProbe:
            httpGet: {path: /readyz, port: health}
            {{- toYaml $v.probes.readiness | nindent 12 }}
          resources:
            {{- toYaml .spec.resources | nindent 12 }}
          securityContext:
            {{- toYaml $v.securityContext | nindent 12 }}
          volumeMounts:
            # readOnlyRootFilesystem: the model cache (gs:// model repositories), video scratch and /tmp are emptyDirs.
            - {name: state, mountPath: /app/.lookout}
            - {name: tmp, mountPath: /tmp}
      volumes:
        - {name: state, emptyDir: {}}
        - {name: tmp, emptyDir: {}}
{{- end -}}

{{/* One PodDisruptionBudget: (dict "root" $ "component" NAME "pdb" VALUES) */}}
{{- define "lookout.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "lookout.fullname" .root }}-{{ .component }}
  labels:
    {{- include "lookout.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  {{- toYaml .pdb | nindent 2 }}
  selector:
    matchLabels:
      {{- include "lookout.selectorLabels" (dict "root" .root "component" .component) | nindent 6 }}
{{- end -}}
