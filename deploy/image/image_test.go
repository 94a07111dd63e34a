// Package image holds the build of partflow's container image (the Dockerfile is at the
// repository's root; build.sh is what `make image` runs) and the test that checks its result.
package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// maxCompressedLayers bounds one architecture's image (its layers, compressed): three
// stripped static binaries and a CA bundle. A bloated image (a stray base, an unstripped
// build) fails it.
const maxCompressedLayers = 40 << 20

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *platform         `json:"platform"`
	Annotations map[string]string `json:"annotations"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type index struct {
	Manifests []descriptor `json:"manifests"`
}

type manifest struct {
	Config descriptor   `json:"config"`
	Layers []descriptor `json:"layers"`
}

type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User       string            `json:"User"`
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
		Env        []string          `json:"Env"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
}

// ociArchive is an OCI image layout read from a tar file into memory (tens of MiB).
type ociArchive map[string][]byte

func (a ociArchive) blob(t *testing.T, digest string, v any) []byte {
	t.Helper()
	b, ok := a["blobs/"+strings.Replace(digest, ":", "/", 1)]
	require.True(t, ok, "blob %s is in the archive", digest)
	if v != nil {
		require.NoError(t, json.Unmarshal(b, v), "blob %s", digest)
	}
	return b
}

// TestImage builds the image with `make image` (buildah; go build and buildah's own store
// under .state/image cache what did not change) and checks the OCI archive: an index of
// linux/amd64 and linux/arm64, each running as UID 65532 with the worker as entrypoint, the
// three binaries, the CA bundle and the passwd entry, OCI labels with version and revision,
// a bounded size; and the binaries taken out of the amd64 layer print --version. Nothing is
// run in a container (containers cannot start on these machines).
func TestImage(t *testing.T) {
	if _, err := exec.LookPath("buildah"); err != nil {
		t.Skip("buildah is missing: run `make tools` (installs Debian's buildah) to build and check the image")
	}
	if testing.Short() {
		t.Skip("-short: the image build cross-compiles three binaries twice")
	}
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	cmd := exec.CommandContext(t.Context(), "make", "-s", "image")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "make image:\n%s", out)
	t.Logf("make image:\n%s", out)
	m := regexp.MustCompile(`image (\S+):(\S+) -> (\S+)`).FindStringSubmatch(string(out))
	require.NotNil(t, m, "make image names its archive")
	name, version, path := m[1], m[2], filepath.Join(root, m[3])
	require.NotEqual(t, "latest", version)

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	arch := ociArchive{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if h.Typeflag == tar.TypeReg {
			arch[h.Name], err = io.ReadAll(tr)
			require.NoError(t, err)
		}
	}
	var top index
	require.NoError(t, json.Unmarshal(arch["index.json"], &top))
	require.Len(t, top.Manifests, 1, "one image index")
	require.Equal(t, name+":"+version, top.Manifests[0].Annotations["org.opencontainers.image.ref.name"])
	var idx index
	arch.blob(t, top.Manifests[0].Digest, &idx)

	revision := strings.TrimSpace(run(t, root, "git", "rev-parse", "HEAD"))
	var platforms []string
	for _, d := range idx.Manifests {
		require.NotNil(t, d.Platform)
		plat := d.Platform.OS + "/" + d.Platform.Architecture
		platforms = append(platforms, plat)
		t.Run(plat, func(t *testing.T) {
			var man manifest
			arch.blob(t, d.Digest, &man)
			var cfg imageConfig
			arch.blob(t, man.Config.Digest, &cfg)
			require.Equal(t, d.Platform.Architecture, cfg.Architecture)
			require.Equal(t, "linux", cfg.OS)
			require.Equal(t, "65532:65532", cfg.Config.User, "runs as the unprivileged user")
			require.Equal(t, []string{"/usr/local/bin/worker"}, cfg.Config.Entrypoint)
			require.Empty(t, cfg.Config.Cmd)
			labels := cfg.Config.Labels
			require.Equal(t, version, labels["org.opencontainers.image.version"])
			require.Equal(t, revision, labels["org.opencontainers.image.revision"])
			require.NotEmpty(t, labels["org.opencontainers.image.created"])
			require.Equal(t, "partflow", labels["org.opencontainers.image.title"])
			require.NotEmpty(t, labels["org.opencontainers.image.source"])

			var size int64
			files := map[string]*tar.Header{}
			contents := map[string][]byte{}
			for _, l := range man.Layers {
				size += l.Size
				zr, err := gzip.NewReader(bytes.NewReader(arch.blob(t, l.Digest, nil)))
				require.NoError(t, err, "layer %s (%s)", l.Digest, l.MediaType)
				lr := tar.NewReader(zr)
				for {
					h, err := lr.Next()
					if err == io.EOF {
						break
					}
					require.NoError(t, err)
					p := "/" + strings.TrimPrefix(h.Name, "./")
					files[p] = h
					if h.Typeflag == tar.TypeReg && (strings.HasPrefix(p, "/usr/local/bin/") || strings.HasPrefix(p, "/etc/")) {
						contents[p], err = io.ReadAll(lr)
						require.NoError(t, err)
					}
				}
			}
			t.Logf("%s: %d layer(s), %.1f MiB compressed", plat, len(man.Layers), float64(size)/(1<<20))
			require.Less(t, size, int64(maxCompressedLayers), "the image stays small")
			for _, bin := range []string{"enqueuer", "worker", "monitor"} {
				h := files["/usr/local/bin/"+bin]
				require.NotNil(t, h, "/usr/local/bin/%s is in the image", bin)
				require.NotZero(t, h.Mode&0o111, "%s is executable", bin)
			}
			for p := range files {
				require.False(t, strings.HasSuffix(p, "/sh") || strings.HasSuffix(p, "/busybox"), "no shell: %s", p)
			}
			require.NotEmpty(t, contents["/etc/ssl/certs/ca-certificates.crt"], "the CA bundle")
			require.Contains(t, string(contents["/etc/passwd"]), ":65532:65532:", "a passwd entry for UID 65532")
			require.Contains(t, string(contents["/etc/group"]), ":65532:")

			if d.Platform.Architecture != "amd64" {
				return
			}
			// The binaries as they are in the layer run on this (amd64) machine.
			dir := t.TempDir()
			for _, bin := range []string{"enqueuer", "worker", "monitor"} {
				p := filepath.Join(dir, bin)
				require.NoError(t, os.WriteFile(p, contents["/usr/local/bin/"+bin], 0o755))
				got := run(t, dir, p, "--version")
				require.True(t, strings.HasPrefix(got, "partflow-"+bin+" "+version+" (revision "+revision), "%s --version: %s", bin, got)
			}
		})
	}
	slices.Sort(platforms)
	require.Equal(t, []string{"linux/amd64", "linux/arm64"}, platforms)
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	require.NoError(t, err, "%s %v", name, args)
	return string(out)
}
