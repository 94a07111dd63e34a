package listing

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/source"
)

// CheckVolumeFile checks, for a caller that can see the volume, that src (a path relative
// to the volume root) names a regular file below root, or a symlink to one inside it, as a
// worker would find it. URL sources are left to the workers and pass. Errors wrap client.ErrInvalid:
// a put with such a source would only fail in the worker.
func CheckVolumeFile(root *os.Root, src string) error {
	if source.IsURL(src) || strings.Contains(src, "://") {
		return nil
	}
	clean, err := source.CleanPath(src)
	if err != nil {
		return fmt.Errorf("%w: %w", client.ErrInvalid, err)
	}
	info, err := root.Stat(clean) // follows symlinks, refusing ones that leave the root
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s: no such file below the volume root %s", client.ErrInvalid, src, root.Name())
	case err != nil && strings.Contains(err.Error(), "escapes"):
		return fmt.Errorf("%w: %s: symlink leads outside the volume root", client.ErrInvalid, src)
	case err != nil:
		return fmt.Errorf("%w: %s: %v", client.ErrInvalid, src, err)
	case info.IsDir():
		return fmt.Errorf("%w: %s is a directory (migrate --source DIR uploads a directory)", client.ErrInvalid, src)
	case !info.Mode().IsRegular():
		return fmt.Errorf("%w: %s is not a regular file (%s)", client.ErrInvalid, src, source.FileKind(info.Mode().Type()))
	}
	return nil
}
