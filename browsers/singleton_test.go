package browsers

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// fakeSingleton makes what Chromium makes: a dir right in the temp dir with
// the two entries, and the link to its socket in a user data dir.
func fakeSingleton(t *testing.T) (userDataDir, dir string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "netlab-singleton-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, name := range singletonEntries {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	userDataDir = t.TempDir()
	if err := os.Symlink(filepath.Join(dir, singletonSocket), filepath.Join(userDataDir, singletonSocket)); err != nil {
		t.Fatal(err)
	}
	return userDataDir, dir
}

func TestSingletonDirRemoved(t *testing.T) {
	udd, dir := fakeSingleton(t)
	if got := singletonDir(udd); got != dir {
		t.Fatalf("singletonDir = %q, want %q", got, dir)
	}
	if err := removeSingletonDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after removeSingletonDir: stat %v, want not exist", err)
	}
	if err := removeSingletonDir(dir); err != nil {
		t.Errorf("removeSingletonDir of a dir already gone: %v, want nil", err)
	}
	if err := removeSingletonDir(""); err != nil {
		t.Errorf(`removeSingletonDir(""): %v, want nil`, err)
	}
}

// A dir holding anything else is reported and left as it is: the removal
// is never recursive outside the user data dir.
func TestSingletonDirWithMore(t *testing.T) {
	_, dir := fakeSingleton(t)
	other := filepath.Join(dir, "not-chromiums")
	if err := os.WriteFile(other, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := removeSingletonDir(dir); err == nil {
		t.Error("removeSingletonDir of a dir with another file succeeded, want an error")
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("the other file: %v, want it kept", err)
	}
}

// Links that do not point at a socket right in the temp dir are not
// followed.
func TestSingletonDirIgnored(t *testing.T) {
	if got := singletonDir(t.TempDir()); got != "" {
		t.Errorf("no link: singletonDir = %q, want \"\"", got)
	}
	deep := filepath.Join(t.TempDir(), "a", "b")
	for _, target := range []string{
		"relative/SingletonSocket",
		filepath.Join(deep, singletonSocket), // not right in the temp dir
		filepath.Join(os.TempDir(), "x", "OtherName"),
		"/SingletonSocket",
	} {
		udd := t.TempDir()
		if err := os.Symlink(target, filepath.Join(udd, singletonSocket)); err != nil {
			t.Fatal(err)
		}
		if got := singletonDir(udd); got != "" {
			t.Errorf("link to %q: singletonDir = %q, want \"\"", target, got)
		}
	}
}

// removeUserDataDir with no recorded singleton dir (a start cut short)
// finds it from the link before the user data dir goes.
func TestRemoveUserDataDirFindsSingleton(t *testing.T) {
	udd, dir := fakeSingleton(t)
	if err := removeUserDataDir(udd, ""); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{udd, dir} {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after removeUserDataDir: %s: stat %v, want not exist", d, err)
		}
	}
}
