package browsers

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Chromium's process singleton: at start the browser makes a directory in
// $TMPDIR (org.chromium.Chromium.XXXXXX) for its SingletonSocket and links
// the socket from the user data dir. A browser that is killed, or closed
// over DevTools, leaves that directory behind: one per launch, piling up in
// /tmp. Close removes it along with the user data dir.

const singletonSocket = "SingletonSocket"

// singletonEntries are what Chromium puts in the directory.
var singletonEntries = []string{singletonSocket, "SingletonCookie"}

// singletonDir returns the directory that userDataDir's SingletonSocket
// link points into, when that is a directory right in the temp dir, or ""
// (no link: not started, or gone; or a target we did not expect, left alone).
func singletonDir(userDataDir string) string {
	target, err := os.Readlink(filepath.Join(userDataDir, singletonSocket))
	if err != nil || !filepath.IsAbs(target) || filepath.Base(target) != singletonSocket {
		return ""
	}
	dir := filepath.Dir(target)
	if filepath.Dir(dir) != filepath.Clean(os.TempDir()) {
		return ""
	}
	return dir
}

// removeSingletonDir removes Chromium's entries in dir and dir itself. It
// removes nothing recursively, since dir is outside the user data dir: a
// directory that holds anything else is reported, not emptied. "" is a
// no-op, and so is a directory that is already gone.
func removeSingletonDir(dir string) error {
	if dir == "" {
		return nil
	}
	for _, name := range singletonEntries {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("browsers: removing Chromium's singleton dir: %w", err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("browsers: removing Chromium's singleton dir: %w", err)
	}
	return nil
}

// removeUserDataDir removes what a stopped browser leaves: Chromium's
// singleton dir (singleton, or found from dir's link when "": a start cut
// short may have made it already) and the user data dir.
func removeUserDataDir(dir, singleton string) error {
	if singleton == "" {
		singleton = singletonDir(dir)
	}
	return errors.Join(removeSingletonDir(singleton), removeAll(dir))
}
