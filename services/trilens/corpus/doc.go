// Package corpus reads every real tool output the collectors keep under
// testdata/real (SBOMs, Lighthouse reports and user flows, k6 summaries)
// end to end into ClickHouse through a running `trilens`, and checks the
// rows against the counts the corpus scripts computed from the files.
package corpus
