package k8s_test

import (
	"slices"
	"strings"
	"testing"
)

// TestImageTags: both Deployments run the one partflow image, and every overlay gives it a
// registry and a tag that a build sets — never latest, never none.
func TestImageTags(t *testing.T) {
	for _, dir := range trees(t) {
		if dir == "base" {
			continue
		}
		docs := render(t, dir)
		for _, dep := range kinds(docs, "Deployment") {
			for _, c := range podContainers(dep) {
				img := str(c["image"])
				name, tag, ok := strings.Cut(img[strings.LastIndex(img, "/")+1:], ":")
				if name != "partflow" || !ok || tag == "" || tag == "latest" {
					t.Errorf("%s: %v: image %q must be partflow with a build's tag (not latest)", dir, get(dep, "metadata", "name"), img)
				}
			}
		}
		if c := container(find(docs, "Deployment", monitorName), "monitor"); !slices.Equal(asList(c["command"]), []any{"/usr/local/bin/monitor"}) {
			t.Errorf("%s: the monitor container must run /usr/local/bin/monitor (the image's entrypoint is the worker)", dir)
		}
	}
}

// TestPodSecurityLabels: every overlay's Namespace enforces the restricted Pod Security profile.
func TestPodSecurityLabels(t *testing.T) {
	for _, dir := range trees(t) {
		if dir == "base" {
			continue
		}
		for _, ns := range kinds(render(t, dir), "Namespace") {
			labels := asMap(get(ns, "metadata", "labels"))
			for _, mode := range []string{"enforce", "audit", "warn"} {
				if v := str(labels["pod-security.kubernetes.io/"+mode]); v != "restricted" {
					t.Errorf("%s: Namespace %v: pod-security.kubernetes.io/%s is %q, want restricted", dir, get(ns, "metadata", "name"), mode, v)
				}
			}
		}
	}
}

// TestQueueMetricsFromTheMonitor: the monitor exports the queue depths on a port named metrics
// (the workers no longer do), and asynqmon's Prometheus address is configurable.
func TestQueueMetricsFromTheMonitor(t *testing.T) {
	docs := render(t, "overlays/prod")
	mc := container(find(docs, "Deployment", monitorName), "monitor")
	configMaps := map[string]map[string]string{}
	for _, cm := range kinds(docs, "ConfigMap") {
		data := map[string]string{}
		for k, v := range asMap(cm["data"]) {
			data[k] = str(v)
		}
		configMaps[str(get(cm, "metadata", "name"))] = data
	}
	env, _ := containerEnv(func(f string, a ...any) { t.Errorf(f, a...) }, mc, configMaps)
	if env["PARTFLOW_METRICS_ADDR"] == "" || containerPort(mc, "metrics") == 0 {
		t.Error("monitor: want PARTFLOW_METRICS_ADDR and a container port named metrics")
	}
	if _, ok := env["PARTFLOW_PROMETHEUS_URL"]; !ok {
		t.Error("monitor: want PARTFLOW_PROMETHEUS_URL (asynqmon's metrics tab), empty by default")
	}
}

// TestProdMonitoring: a PodMonitor scrapes the workers and the monitor on their metrics port,
// and the PrometheusRule carries the alerts the README describes.
func TestProdMonitoring(t *testing.T) {
	docs := render(t, "overlays/prod")
	pms := kinds(docs, "PodMonitor")
	if len(pms) != 1 {
		t.Fatalf("want one PodMonitor, have %d", len(pms))
	}
	sel := asMap(get(pms[0], "spec", "selector", "matchLabels"))
	for _, name := range []string{workerName, monitorName} {
		dep := find(docs, "Deployment", name)
		if !selects(sel, podLabels(dep)) {
			t.Errorf("the PodMonitor does not select %s's pods", name)
		}
		if containerPort(podContainers(dep)[0], "metrics") == 0 {
			t.Errorf("%s has no container port named metrics for the PodMonitor", name)
		}
	}
	if ep := asList(get(pms[0], "spec", "podMetricsEndpoints")); len(ep) != 1 || str(asMap(ep[0])["port"]) != "metrics" {
		t.Errorf("the PodMonitor must scrape the port named metrics: %v", ep)
	}
	rules := kinds(docs, "PrometheusRule")
	if len(rules) != 1 {
		t.Fatalf("want one PrometheusRule, have %d", len(rules))
	}
	var exprs []string
	for _, g := range asList(get(rules[0], "spec", "groups")) {
		for _, r := range asList(asMap(g)["rules"]) {
			exprs = append(exprs, str(asMap(r)["alert"])+": "+str(asMap(r)["expr"]))
		}
	}
	all := strings.Join(exprs, "\n")
	for _, want := range []string{`partflow_parts_total{result="failed"}`, `partflow_uploads_finished_total{state="failed"}`,
		`partflow_queue_tasks{state="pending"}`, `absent(partflow_build_info{program="worker"})`} {
		if !strings.Contains(all, want) {
			t.Errorf("the PrometheusRule has no alert on %s:\n%s", want, all)
		}
	}
}

// TestProdNetworkPolicies: everything is denied but what partflow needs: workers reach DNS,
// Redis, S3 and the URL sources; the monitor is reached from the ingress namespace (and
// Prometheus) only and reaches DNS and Redis only.
func TestProdNetworkPolicies(t *testing.T) {
	docs := render(t, "overlays/prod")
	policies := map[string]doc{}
	for _, np := range kinds(docs, "NetworkPolicy") {
		policies[str(get(np, "metadata", "name"))] = np
	}
	deny := policies["partflow-default-deny"]
	if deny == nil || len(asMap(get(deny, "spec", "podSelector"))) != 0 || len(asList(get(deny, "spec", "ingress"))) != 0 ||
		len(asList(get(deny, "spec", "egress"))) != 0 || len(asList(get(deny, "spec", "policyTypes"))) != 2 {
		t.Errorf("want partflow-default-deny: every pod, Ingress and Egress, nothing allowed")
	}
	ports := func(rules []any) []string {
		var out []string
		for _, r := range rules {
			for _, p := range asList(asMap(r)["ports"]) {
				out = append(out, str(asMap(p)["port"]))
			}
		}
		return out
	}
	worker, monitor := policies[workerName], policies[monitorName]
	if worker == nil || monitor == nil {
		t.Fatalf("want NetworkPolicies %s and %s", workerName, monitorName)
	}
	if !selects(asMap(get(worker, "spec", "podSelector", "matchLabels")), podLabels(find(docs, "Deployment", workerName))) ||
		!selects(asMap(get(monitor, "spec", "podSelector", "matchLabels")), podLabels(find(docs, "Deployment", monitorName))) {
		t.Error("the policies must select the workers' and the monitor's pods")
	}
	if got := ports(asList(get(worker, "spec", "ingress"))); !slices.Equal(got, []string{"metrics"}) {
		t.Errorf("workers may be reached on metrics only, not %v", got)
	}
	wout := ports(asList(get(worker, "spec", "egress")))
	for _, p := range []string{"53", "6379", "443"} {
		if !slices.Contains(wout, p) {
			t.Errorf("workers must reach port %s (DNS, Redis, S3/URLs): %v", p, wout)
		}
	}
	min := asList(get(monitor, "spec", "ingress"))
	if len(min) != 2 || !slices.Equal(ports(min[:1]), []string{"http"}) ||
		str(get(asMap(asList(asMap(min[0])["from"])[0]), "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name")) == "" {
		t.Errorf("the monitor's http port must be reachable from one (the ingress) namespace only: %v", min)
	}
	if mout := ports(asList(get(monitor, "spec", "egress"))); slices.Contains(mout, "443") {
		t.Errorf("the monitor needs no S3 or URL access: %v", mout)
	}
}

// TestProdKEDARedisPassword: every trigger of the ScaledObject authenticates with the
// TriggerAuthentication, which reads the password from a Secret made by hand.
func TestProdKEDARedisPassword(t *testing.T) {
	docs := render(t, "overlays/prod")
	ta := find(docs, "TriggerAuthentication", "partflow-redis")
	if ta == nil {
		t.Fatal("want TriggerAuthentication partflow-redis")
	}
	refs := asList(get(ta, "spec", "secretTargetRef"))
	if len(refs) != 1 || str(asMap(refs[0])["parameter"]) != "password" || str(asMap(refs[0])["name"]) != redisAuthSecret {
		t.Errorf("the TriggerAuthentication must take parameter password from Secret %s: %v", redisAuthSecret, refs)
	}
	for _, tr := range asList(get(find(docs, "ScaledObject", workerName), "spec", "triggers")) {
		if str(get(asMap(tr), "authenticationRef", "name")) != "partflow-redis" {
			t.Errorf("trigger %v does not use the TriggerAuthentication", asMap(tr)["name"])
		}
	}
}
