// Package reports is the data model of a netlab run and its renderings.
//
// A run is data first: Run -> Cases, each with its labels, verdict,
// failure, metrics, impairment ledgers and the command that reruns it. JSON
// (schema-versioned) is the source of truth; other renderings (HTML with
// plots, Markdown, compare) read it. The package imports nothing else of
// netlab's, so any tool can read a run.
//
//	scenarios (Ginkgo) --ReportAfterSuite--> reports.Run --> run.json
//	                                                     \-> junit.xml (Ginkgo)
package reports
