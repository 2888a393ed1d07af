// Package reports is the data model of a netlab run and its renderings.
//
// A run is data first: Run -> Cases, each with its cell of the matrix
// (family, pair, transport, NATs, clock), labels, verdict, failure, metrics,
// impairment ledgers, timeline of events (per lab run, for a case that ran
// its lab more than once) and the command that reruns it;
// plus the result Tables that families compute once per run. JSON
// (schema-versioned, read strictly) is the source of truth; its renderings
// read it: today the Markdown summary, later an HTML report with plots and
// a comparison of two runs. The
// package imports nothing else of netlab's, so any tool can read a run.
//
//	scenarios (Ginkgo) --ReportAfterSuite--> reports.Run --> run.json
//	                                                     |-> junit.xml (Ginkgo)
//	                                                     \-> Markdown summary (CI job page)
package reports
