package reports

import "errors"

var (
	// ErrBadRun is wrapped by every error reading, writing or rendering a
	// run that is malformed; the message names the file, the place (byte
	// offset and JSON path, as cases[1].duration_s; or cases[i], tables[i])
	// and what was expected.
	ErrBadRun = errors.New("bad run file")
	// ErrBadTable: a result table is malformed (no name, no columns, a row
	// of the wrong width, a name used twice in one run).
	ErrBadTable = errors.New("bad table")
)
