package k8s_test

import (
	"errors"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/partflow/partflow/tasks"
)

// facts are what the checks read from a rendering; the mini renderer and kustomize must agree.
type facts struct {
	WorkerEnv, MonitorEnv     map[string]string
	WorkerGrace, MonitorGrace int
	WorkerResources           any
	Min, Max                  int
	Triggers                  []any
	Kinds                     []string
}

func checkRendered(t *testing.T, name string, docs []doc) facts {
	t.Helper()
	errorf := func(format string, args ...any) { t.Helper(); t.Errorf(name+": "+format, args...) }
	var f facts
	for _, d := range docs {
		f.Kinds = append(f.Kinds, str(d["kind"])+"/"+str(get(d, "metadata", "name")))
	}
	slices.Sort(f.Kinds)

	configMaps := map[string]map[string]string{}
	for _, d := range docs {
		switch d["kind"] {
		case "ConfigMap":
			data := map[string]string{}
			for k, v := range asMap(d["data"]) {
				s, ok := v.(string)
				if !ok {
					errorf("ConfigMap %s: %s must be a string, got %T", get(d, "metadata", "name"), k, v)
				}
				data[k] = s
			}
			configMaps[str(get(d, "metadata", "name"))] = data
		case "Secret":
			errorf("Secret %v is part of the rendered manifests: secrets are created by hand (see %s)",
				get(d, "metadata", "name"), exampleSecret)
		}
	}

	for _, d := range docs {
		if d["kind"] == "Deployment" {
			checkPodSecurity(errorf, d)
			checkSelectors(errorf, d)
		}
	}

	worker := find(docs, "Deployment", workerName)
	monitor := find(docs, "Deployment", monitorName)
	if worker == nil || monitor == nil {
		errorf("want Deployments %s and %s", workerName, monitorName)
		return f
	}
	wc := container(worker, "worker")
	mc := container(monitor, "monitor")
	if wc == nil || mc == nil {
		errorf("want containers worker and monitor in their Deployments")
		return f
	}
	wenv, wsecrets := containerEnv(errorf, wc, configMaps)
	menv, msecrets := containerEnv(errorf, mc, configMaps)
	f.WorkerEnv, f.MonitorEnv = wenv, menv
	checkEnvNames(t, errorf, "worker", wenv)
	checkEnvNames(t, errorf, "monitor", menv)
	for _, s := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PARTFLOW_MONITOR_TOKEN"} {
		if _, ok := wenv[s]; ok {
			errorf("worker: %s must come from a Secret, not a ConfigMap or a literal value", s)
		}
		if _, ok := menv[s]; ok {
			errorf("monitor: %s must come from a Secret, not a ConfigMap or a literal value", s)
		}
	}
	if !slices.Contains(wsecrets, workerSecret) {
		errorf("worker: want envFrom secretRef %s (S3 credentials)", workerSecret)
	}
	if !slices.Contains(msecrets, monitorSecret) {
		errorf("monitor: want envFrom secretRef %s (PARTFLOW_MONITOR_TOKEN)", monitorSecret)
	}
	for _, key := range []string{"PARTFLOW_REDIS_URL", "PARTFLOW_S3_ENDPOINT", "PARTFLOW_VOLUME_ROOT",
		"PARTFLOW_CONCURRENCY", "PARTFLOW_SHUTDOWN_TIMEOUT", "PARTFLOW_METRICS_ADDR", "PARTFLOW_QUEUES"} {
		if _, ok := wenv[key]; !ok {
			errorf("worker: %s is not set (the manifests rely on it being explicit)", key)
		}
	}

	f.WorkerGrace = checkGrace(errorf, "worker", worker, wenv["PARTFLOW_SHUTDOWN_TIMEOUT"])
	f.MonitorGrace = checkGrace(errorf, "monitor", monitor, menv["PARTFLOW_SHUTDOWN_TIMEOUT"])
	checkWorkerHTTP(errorf, worker, wc, wenv)
	f.WorkerResources = checkWorkerMemory(errorf, worker, wc, wenv)
	checkWorkerVolume(errorf, docs, worker, wc, wenv)
	checkMonitor(errorf, docs, monitor, mc, menv)
	f.Min, f.Max, f.Triggers = checkScaledObject(errorf, docs, worker, wenv)
	checkPDBs(errorf, docs)
	return f
}

func checkGrace(errorf func(string, ...any), what string, dep doc, shutdown string) int {
	grace, ok := get(dep, "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
	if !ok {
		errorf("%s: terminationGracePeriodSeconds must be set explicitly", what)
		return 0
	}
	if shutdown == "" {
		errorf("%s: PARTFLOW_SHUTDOWN_TIMEOUT must be set explicitly", what)
		return grace
	}
	d, err := time.ParseDuration(shutdown)
	if err != nil {
		errorf("%s: PARTFLOW_SHUTDOWN_TIMEOUT=%q: %v", what, shutdown, err)
		return grace
	}
	if time.Duration(grace)*time.Second < d+minShutdownMargin {
		errorf("%s: terminationGracePeriodSeconds %d must be at least PARTFLOW_SHUTDOWN_TIMEOUT %v + %v, "+
			"or the kubelet SIGKILLs the process before it has requeued its running tasks", what, grace, d, minShutdownMargin)
	}
	return grace
}

func checkWorkerHTTP(errorf func(string, ...any), dep, c doc, env map[string]string) {
	host, port, err := net.SplitHostPort(env["PARTFLOW_METRICS_ADDR"])
	if err != nil {
		errorf("worker: PARTFLOW_METRICS_ADDR=%q: %v", env["PARTFLOW_METRICS_ADDR"], err)
		return
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		errorf("worker: PARTFLOW_METRICS_ADDR=%q must listen on all interfaces, or the probes cannot reach it", env["PARTFLOW_METRICS_ADDR"])
	}
	cp := containerPort(c, "metrics")
	if strconv.Itoa(cp) != port {
		errorf("worker: container port metrics is %d, PARTFLOW_METRICS_ADDR says %s", cp, port)
	}
	checkProbe(errorf, "worker", c, "readinessProbe", "/readyz", "metrics", cp)
	checkProbe(errorf, "worker", c, "livenessProbe", "/healthz", "metrics", cp)
	ann := asMap(get(dep, "spec", "template", "metadata", "annotations"))
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != port || ann["prometheus.io/path"] != "/metrics" {
		errorf("worker: want pod annotations prometheus.io/scrape \"true\", prometheus.io/port %q, prometheus.io/path /metrics; got %v", port, ann)
	}
}

func checkProbe(errorf func(string, ...any), what string, c doc, probe, path, portName string, portNum int) {
	p := asMap(get(c, probe, "httpGet"))
	if p == nil {
		errorf("%s: want an httpGet %s", what, probe)
		return
	}
	if p["path"] != path {
		errorf("%s: %s path is %v, want %s", what, probe, p["path"], path)
	}
	if p["port"] != portName && p["port"] != portNum {
		errorf("%s: %s port is %v, want %s (%d)", what, probe, p["port"], portName, portNum)
	}
}

// checkWorkerMemory checks requests.memory >= PARTFLOW_CONCURRENCY × part size + overhead and
// need <= 90% of limits.memory (the GOMEMLIMIT the worker sets).
func checkWorkerMemory(errorf func(string, ...any), dep, c doc, env map[string]string) any {
	res := get(c, "resources")
	ann := asMap(get(dep, "metadata", "annotations"))
	partSize, err1 := parseQuantity(str(ann["partflow.io/part-size"]))
	overhead, err2 := parseQuantity(str(ann["partflow.io/memory-overhead"]))
	concurrency, err3 := strconv.Atoi(env["PARTFLOW_CONCURRENCY"])
	if err := errors.Join(err1, err2, err3); err != nil {
		errorf("worker: memory sizing needs annotations partflow.io/part-size and partflow.io/memory-overhead and PARTFLOW_CONCURRENCY: %v", err)
		return res
	}
	if concurrency < 1 {
		errorf("worker: PARTFLOW_CONCURRENCY=%d", concurrency)
	}
	need := int64(concurrency)*partSize + overhead
	req, err1 := parseQuantity(str(get(c, "resources", "requests", "memory")))
	lim, err2 := parseQuantity(str(get(c, "resources", "limits", "memory")))
	if err := errors.Join(err1, err2); err != nil {
		errorf("worker: resources.requests.memory and resources.limits.memory: %v", err)
		return res
	}
	for _, k := range []string{"requests", "limits"} {
		if str(get(c, "resources", k, "cpu")) == "" {
			errorf("worker: resources.%s.cpu is not set", k)
		}
	}
	if req < need {
		errorf("worker: requests.memory %s is below PARTFLOW_CONCURRENCY × part size + overhead = %d × %s + %s = %s",
			mib(req), concurrency, mib(partSize), mib(overhead), mib(need))
	}
	if lim < req {
		errorf("worker: limits.memory %s is below requests.memory %s", mib(lim), mib(req))
	}
	// The worker sets GOMEMLIMIT to 90% of the container's limit itself (automemlimit): a
	// hand-kept value would drift from the limit.
	for _, e := range asList(c["env"]) {
		if asMap(e)["name"] == "GOMEMLIMIT" {
			errorf("worker: GOMEMLIMIT is set by hand; the worker derives it from limits.memory")
		}
	}
	if g := lim * 9 / 10; g < need {
		errorf("worker: GOMEMLIMIT (90%% of limits.memory = %s) is below the need (%s)", mib(g), mib(need))
	}
	return res
}

func checkWorkerVolume(errorf func(string, ...any), docs []doc, dep, c doc, env map[string]string) {
	root := env["PARTFLOW_VOLUME_ROOT"]
	var volName string
	for _, m := range asList(c["volumeMounts"]) {
		mm := asMap(m)
		if mm["mountPath"] == root {
			volName = str(mm["name"])
			if mm["readOnly"] != true {
				errorf("worker: the volume at %s must be mounted readOnly: true", root)
			}
		}
	}
	if volName == "" {
		errorf("worker: nothing is mounted at PARTFLOW_VOLUME_ROOT=%q", root)
		return
	}
	for _, v := range asList(get(dep, "spec", "template", "spec", "volumes")) {
		vm := asMap(v)
		if vm["name"] != volName {
			continue
		}
		pvc := asMap(vm["persistentVolumeClaim"])
		if pvc["claimName"] != volumeClaim || pvc["readOnly"] != true {
			errorf("worker: volume %s must be persistentVolumeClaim %s with readOnly: true, got %v", volName, volumeClaim, vm)
		}
	}
	if find(docs, "PersistentVolumeClaim", volumeClaim) == nil {
		errorf("no PersistentVolumeClaim %s", volumeClaim)
	}
}

func checkMonitor(errorf func(string, ...any), docs []doc, dep, c doc, env map[string]string) {
	listen := env["PARTFLOW_MONITOR_LISTEN"]
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		errorf("monitor: PARTFLOW_MONITOR_LISTEN=%q (its default is loopback, unreachable in a pod): %v", listen, err)
		return
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		errorf("monitor: PARTFLOW_MONITOR_LISTEN=%q must listen on all interfaces", listen)
	}
	cp := containerPort(c, "http")
	if strconv.Itoa(cp) != port {
		errorf("monitor: container port http is %d, PARTFLOW_MONITOR_LISTEN says %s", cp, port)
	}
	checkProbe(errorf, "monitor", c, "livenessProbe", "/healthz", "http", cp)
	checkProbe(errorf, "monitor", c, "readinessProbe", "/readyz", "http", cp)
	for _, a := range asList(get(c, "args")) {
		if a == "--no-auth" {
			errorf("monitor: --no-auth is for a monitor on loopback on your own machine only")
		}
	}
	svc := find(docs, "Service", monitorName)
	if svc == nil {
		errorf("no Service %s", monitorName)
		return
	}
	if typ := str(get(svc, "spec", "type")); typ != "" && typ != "ClusterIP" {
		errorf("Service %s: type %s, want ClusterIP", monitorName, typ)
	}
	if !selects(asMap(get(svc, "spec", "selector")), podLabels(dep)) {
		errorf("Service %s: selector does not match the monitor's pod labels", monitorName)
	}
	for _, p := range asList(get(svc, "spec", "ports")) {
		if tp := asMap(p)["targetPort"]; tp != "http" && tp != cp {
			errorf("Service %s: targetPort %v, want http (%d)", monitorName, tp, cp)
		}
	}
}

// checkScaledObject checks the KEDA ScaledObject: it scales the worker, never below 1, with one
// redis trigger per queue the workers serve, each watching asynq:{Q}:pending on the Redis
// PARTFLOW_REDIS_URL names (same host:port, database and TLS).
func checkScaledObject(errorf func(string, ...any), docs []doc, worker doc, env map[string]string) (int, int, []any) {
	so := find(docs, "ScaledObject", workerName)
	if so == nil {
		errorf("no ScaledObject %s", workerName)
		return 0, 0, nil
	}
	if v := str(so["apiVersion"]); v != "keda.sh/v1alpha1" {
		errorf("ScaledObject: apiVersion %s, want keda.sh/v1alpha1", v)
	}
	spec := asMap(so["spec"])
	ref := asMap(spec["scaleTargetRef"])
	if ref["name"] != get(worker, "metadata", "name") || (ref["kind"] != nil && ref["kind"] != "Deployment") {
		errorf("ScaledObject: scaleTargetRef %v does not name the worker Deployment", ref)
	}
	if n := ref["envSourceContainerName"]; n != nil && n != "worker" {
		errorf("ScaledObject: envSourceContainerName %v, want worker", n)
	}
	if cs := podContainers(worker); ref["envSourceContainerName"] == nil && (len(cs) == 0 || cs[0]["name"] != "worker") {
		errorf("ScaledObject: KEDA reads the first container's environment, which is not the worker")
	}
	minR, ok := spec["minReplicaCount"].(int)
	if !ok {
		errorf("ScaledObject: minReplicaCount must be set (KEDA's default is 0)")
	} else if minR < 1 {
		errorf("ScaledObject: minReplicaCount %d: keep at least 1 worker, only a running worker moves retry and scheduled tasks back to pending", minR)
	}
	maxR, ok := spec["maxReplicaCount"].(int)
	if !ok || maxR < minR {
		errorf("ScaledObject: maxReplicaCount %v must be set and >= minReplicaCount %d", spec["maxReplicaCount"], minR)
	}
	if _, ok := spec["idleReplicaCount"]; ok {
		errorf("ScaledObject: idleReplicaCount would scale the workers to 0")
	}

	// The queues: every queue partflow enqueues to must be served and watched.
	served := map[string]bool{}
	for _, item := range strings.Split(env["PARTFLOW_QUEUES"], ",") {
		q, _, _ := strings.Cut(strings.TrimSpace(item), "=")
		served[q] = true
	}
	for q := range tasks.Queues() {
		if !served[q] {
			errorf("worker: PARTFLOW_QUEUES=%q does not serve queue %q, which partflow enqueues to", env["PARTFLOW_QUEUES"], q)
		}
	}

	u, err := url.Parse(env["PARTFLOW_REDIS_URL"])
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		errorf("PARTFLOW_REDIS_URL=%q: the ScaledObject's redis triggers need a redis:// or rediss:// URL (%v)", env["PARTFLOW_REDIS_URL"], err)
		return minR, maxR, nil
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "6379")
	}
	db := strings.Trim(u.Path, "/")
	if db == "" {
		db = "0"
	}
	wantTLS := strconv.FormatBool(u.Scheme == "rediss")
	if !strings.Contains(u.Hostname(), ".") && net.ParseIP(u.Hostname()) == nil {
		errorf("PARTFLOW_REDIS_URL host %q: use a fully qualified name (svc.namespace.svc.cluster.local): KEDA connects from its own namespace", u.Hostname())
	}

	watched := map[string]int{}
	triggers := asList(spec["triggers"])
	for i, tr := range triggers {
		tm := asMap(tr)
		if tm["type"] != "redis" {
			errorf("ScaledObject: trigger %d has type %v, want redis", i, tm["type"])
			continue
		}
		md := asMap(tm["metadata"])
		for k, v := range md {
			if _, ok := v.(string); !ok {
				errorf("ScaledObject: trigger %d: metadata %s must be a string (quote it), got %T", i, k, v)
			}
		}
		m := regexp.MustCompile(`^asynq:\{([^}]+)\}:pending$`).FindStringSubmatch(str(md["listName"]))
		if m == nil {
			errorf("ScaledObject: trigger %d: listName %v is not an asynq pending list asynq:{QUEUE}:pending", i, md["listName"])
			continue
		}
		watched[m[1]]++
		if n, err := strconv.Atoi(str(md["listLength"])); err != nil || n < 1 {
			errorf("ScaledObject: trigger %s: listLength %v must be a positive integer", m[1], md["listLength"])
		}
		got := str(md["address"])
		if name := str(md["addressFromEnv"]); name != "" {
			v, ok := env[name]
			if !ok {
				errorf("ScaledObject: trigger %s: addressFromEnv %s is not in the worker's environment", m[1], name)
			}
			got = v
		}
		if got != addr {
			errorf("ScaledObject: trigger %s: address %q, but PARTFLOW_REDIS_URL points at %q", m[1], got, addr)
		}
		if d := orDefault(str(md["databaseIndex"]), "0"); d != db {
			errorf("ScaledObject: trigger %s: databaseIndex %s, but PARTFLOW_REDIS_URL uses database %s", m[1], d, db)
		}
		if tls := orDefault(str(md["enableTLS"]), "false"); tls != wantTLS {
			errorf("ScaledObject: trigger %s: enableTLS %s, but PARTFLOW_REDIS_URL is %s://", m[1], tls, u.Scheme)
		}
	}
	for q := range served {
		if watched[q] != 1 {
			errorf("ScaledObject: want exactly one trigger on asynq:{%s}:pending, have %d", q, watched[q])
		}
	}
	for q := range watched {
		if !served[q] {
			errorf("ScaledObject: trigger on queue %q, which the workers do not serve (PARTFLOW_QUEUES)", q)
		}
	}
	return minR, maxR, triggers
}

func checkPodSecurity(errorf func(string, ...any), dep doc) {
	name := get(dep, "metadata", "name")
	pod := asMap(get(dep, "spec", "template", "spec"))
	if pod["automountServiceAccountToken"] != false {
		errorf("%s: automountServiceAccountToken must be false (partflow never talks to the API server)", name)
	}
	podNonRoot := get(pod, "securityContext", "runAsNonRoot") == true
	for _, c := range asList(pod["containers"]) {
		cm := asMap(c)
		sc := asMap(cm["securityContext"])
		if !podNonRoot && sc["runAsNonRoot"] != true {
			errorf("%s/%v: runAsNonRoot must be true", name, cm["name"])
		}
		if sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false {
			errorf("%s/%v: want readOnlyRootFilesystem: true and allowPrivilegeEscalation: false", name, cm["name"])
		}
		if !slices.Contains(asList(get(sc, "capabilities", "drop")), any("ALL")) {
			errorf("%s/%v: capabilities.drop must contain ALL", name, cm["name"])
		}
	}
}

func checkSelectors(errorf func(string, ...any), dep doc) {
	name := get(dep, "metadata", "name")
	labels := podLabels(dep)
	if !selects(asMap(get(dep, "spec", "selector", "matchLabels")), labels) {
		errorf("%s: spec.selector.matchLabels does not match the pod labels", name)
	}
	for _, c := range asList(get(dep, "spec", "template", "spec", "topologySpreadConstraints")) {
		if !selects(asMap(get(c, "labelSelector", "matchLabels")), labels) {
			errorf("%s: topologySpreadConstraint %v does not select its own pods", name, get(c, "topologyKey"))
		}
	}
}

func checkPDBs(errorf func(string, ...any), docs []doc) {
	for _, pdb := range docs {
		if pdb["kind"] != "PodDisruptionBudget" {
			continue
		}
		sel := asMap(get(pdb, "spec", "selector", "matchLabels"))
		matched := false
		for _, d := range docs {
			if d["kind"] == "Deployment" && selects(sel, podLabels(d)) {
				matched = true
			}
		}
		if !matched {
			errorf("PodDisruptionBudget %v selects no Deployment's pods", get(pdb, "metadata", "name"))
		}
	}
}

func TestRenderedTrees(t *testing.T) {
	for _, dir := range trees(t) {
		t.Run(dir, func(t *testing.T) {
			docs := render(t, dir)
			f := checkRendered(t, dir, docs)
			switch dir {
			case "base":
				pvc := find(docs, "PersistentVolumeClaim", volumeClaim)
				if pvc == nil || !slices.Contains(asList(get(pvc, "spec", "accessModes")), any("ReadOnlyMany")) {
					t.Errorf("base: PersistentVolumeClaim %s must be ReadOnlyMany", volumeClaim)
				}
			case "overlays/dev":
				if f.Min < 1 || f.Max > 3 {
					t.Errorf("dev: want 1-3 workers, have %d-%d", f.Min, f.Max)
				}
			case "overlays/prod":
				if f.Min < 2 {
					t.Errorf("prod: want at least 2 workers, have %d", f.Min)
				}
				if !slices.ContainsFunc(docs, func(d doc) bool { return d["kind"] == "PodDisruptionBudget" }) {
					t.Error("prod: want a PodDisruptionBudget for the workers")
				}
				if asList(get(find(docs, "Deployment", workerName), "spec", "template", "spec", "topologySpreadConstraints")) == nil {
					t.Error("prod: want topologySpreadConstraints on the workers")
				}
			}
			if dir != "base" {
				ns := ""
				for _, d := range docs {
					if d["kind"] == "Namespace" {
						ns = str(get(d, "metadata", "name"))
					}
				}
				for _, d := range docs {
					if d["kind"] != "Namespace" && str(get(d, "metadata", "namespace")) != ns {
						t.Errorf("%s: %v/%v is not in the overlay's Namespace %q", dir, d["kind"], get(d, "metadata", "name"), ns)
					}
				}
			}
		})
	}
}
