package browsers

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"sync"
	"time"
)

// pageFS is the JS reference peer: index.html and netlab.js (window.netlab,
// the API ChromePeer drives). Nothing in it loads from outside.
//
//go:embed page
var pageFS embed.FS

// PageServer serves the embedded page over HTTP on 127.0.0.1.
//
//	ServePage ─▶ 127.0.0.1:0 ─▶ GET / (index.html), GET /netlab.js
type PageServer struct {
	ln   net.Listener // read-only
	hs   *http.Server // read-only
	done chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// ServePage serves the page on 127.0.0.1 at a free port until Close.
func ServePage() (*PageServer, error) {
	sub, err := fs.Sub(pageFS, "page")
	if err != nil { // cannot happen: the directory is embedded
		return nil, fmt.Errorf("browsers: page files: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("browsers: page server: listen on 127.0.0.1: %w", err)
	}
	files := http.FileServerFS(sub)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Every load gets the page of this binary: no caching between
		// runs, and a version-mismatch reload fetches it again.
		w.Header().Set("Cache-Control", "no-store")
		files.ServeHTTP(w, r)
	})
	s := &PageServer{
		ln:   ln,
		hs:   &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		s.hs.Serve(ln) // returns at Close
	}()
	return s, nil
}

// URL is the page's address, http://127.0.0.1:PORT/ (index.html).
func (s *PageServer) URL() string { return "http://" + s.ln.Addr().String() + "/" }

// Close stops the server and waits for it; idempotent.
func (s *PageServer) Close() error {
	s.closeOnce.Do(func() {
		err := s.hs.Close()
		<-s.done
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.closeErr = err
	})
	return s.closeErr
}
