package dora

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"
)

// Change types and the statuses the keys read, as the scorer stores them.
const (
	TypeDeploy   = "deploy"
	TypeRollback = "rollback"
	TypeIncident = "incident"
	production   = "production"
)

// Failure causes.
const (
	CauseIncident   = "incident"
	CauseRollback   = "rollback"
	CauseRevert     = "revert"
	CauseRegression = "regression"
)

// Change is the latest state of one change.
type Change struct {
	ID, Type, Status, Service, Environment string
	Commit, Title, RollbackOf              string
	ArtifactDigest, EventID                string
	Started, Finished                      time.Time
	Commits                                []Commit
}

// Commit is a commit a deploy carries, with its time when known.
type Commit struct {
	SHA string
	At  time.Time
}

// at is when a change happened: its end, else its start.
func (c Change) at() time.Time {
	if known(c.Finished) {
		return c.Finished
	}
	if known(c.Started) {
		return c.Started
	}
	return time.Time{}
}

// known: ClickHouse stores an absent time as 1970-01-01.
func known(t time.Time) bool { return t.Unix() > 0 }

// Regression is a failing regression verdict of a service.
type Regression struct {
	ID, Service, Lens, KPI string
	At                     time.Time
}

// Window is the period the keys describe.
type Window struct{ Since, Until time.Time }

// Keys are DORA's four keys over a window.
type Keys struct {
	Deploys         int       `json:"deploys"`
	DeploysPerDay   float64   `json:"deploys_per_day"`
	DeploysPerWeek  float64   `json:"deploys_per_week"`
	FrequencyBand   string    `json:"frequency_band"`
	LeadTimeMedianS float64   `json:"lead_time_median_seconds"`
	LeadTimeP90S    float64   `json:"lead_time_p90_seconds"`
	LeadTimeCommits int       `json:"lead_time_commits"`
	FailedDeploys   int       `json:"failed_deploys"`
	ChangeFailRate  float64   `json:"change_failure_rate"`
	RestoreMedianS  float64   `json:"time_to_restore_median_seconds"`
	Restores        int       `json:"restores"`
	Incidents       int       `json:"incidents"`
	OpenIncidents   int       `json:"open_incidents"`
	Failures        []Failure `json:"failures,omitempty"`
}

// Failure names a failed deploy and what failed it.
type Failure struct {
	Deploy  string    `json:"deploy"`
	Service string    `json:"service"`
	At      time.Time `json:"at"`
	Causes  []string  `json:"causes"`
	By      []string  `json:"by"`
}

// Compute gives the four keys of the changes and regressions of one scope
// (a service, a team or the tenant) over w. changes are latest states; the
// deploys before w are read too, so a failure in w is attributed to a
// deploy before it only to find that deploy, never counted.
func Compute(changes []Change, regs []Regression, w Window) Keys {
	deploys := map[string][]*Change{} // per service, oldest first
	var rollbacks, incidents []Change
	for i := range changes {
		c := &changes[i]
		switch {
		case c.Type == TypeDeploy && c.Environment == production && c.Status == "success" && !c.at().IsZero():
			deploys[c.Service] = append(deploys[c.Service], c)
		case c.Type == TypeRollback && c.Environment == production && c.Status == "success" && !c.at().IsZero():
			rollbacks = append(rollbacks, *c)
		case c.Type == TypeIncident && known(c.Started):
			incidents = append(incidents, *c)
		}
	}
	for _, ds := range deploys {
		slices.SortFunc(ds, func(a, b *Change) int { return cmp.Or(a.at().Compare(b.at()), cmp.Compare(a.ID, b.ID)) })
	}
	f := failures{deploys: deploys, causes: map[*Change]*Failure{}}
	var restores []float64
	for _, inc := range incidents {
		f.attribute(inc.Service, inc.Started, CauseIncident, inc.ID)
		if inc.Started.Before(w.Since) || !inc.Started.Before(w.Until) {
			continue
		}
		if inc.Status == "resolved" && known(inc.Finished) && !inc.Finished.Before(inc.Started) {
			restores = append(restores, inc.Finished.Sub(inc.Started).Seconds())
		}
	}
	for _, rb := range rollbacks {
		if d := f.rolledBack(rb); d != nil && inWindow(rb.at(), w) {
			restores = append(restores, rb.at().Sub(d.at()).Seconds())
		}
	}
	for _, r := range regs {
		f.attribute(r.Service, r.At, CauseRegression, r.ID)
	}
	f.reverts()
	k := Keys{}
	var leads []float64
	for _, ds := range deploys {
		for _, d := range ds {
			if !inWindow(d.at(), w) {
				continue
			}
			k.Deploys++
			if fl := f.causes[d]; fl != nil {
				k.FailedDeploys++
				k.Failures = append(k.Failures, *fl)
			}
			leads = append(leads, leadTimes(d, ds)...)
		}
	}
	for _, inc := range incidents {
		if inWindow(inc.Started, w) {
			k.Incidents++
			if inc.Status != "resolved" {
				k.OpenIncidents++
			}
		}
	}
	k.fill(w, leads, restores)
	return k
}

func inWindow(t time.Time, w Window) bool { return !t.Before(w.Since) && t.Before(w.Until) }

func (k *Keys) fill(w Window, leads, restores []float64) {
	days := w.Until.Sub(w.Since).Hours() / 24
	if days > 0 {
		k.DeploysPerDay = float64(k.Deploys) / days
		k.DeploysPerWeek = k.DeploysPerDay * 7
	}
	k.FrequencyBand = band(k.DeploysPerDay)
	if k.Deploys > 0 {
		k.ChangeFailRate = float64(k.FailedDeploys) / float64(k.Deploys)
	}
	k.LeadTimeCommits = len(leads)
	k.LeadTimeMedianS = quantile(leads, 0.5)
	k.LeadTimeP90S = quantile(leads, 0.9)
	k.Restores = len(restores)
	k.RestoreMedianS = quantile(restores, 0.5)
	slices.SortFunc(k.Failures, func(a, b Failure) int { return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Deploy, b.Deploy)) })
}

// band is DORA's deployment frequency band.
func band(perDay float64) string {
	switch {
	case perDay == 0:
		return ""
	case perDay > 1:
		return "elite"
	case perDay >= 1.0/7:
		return "high"
	case perDay >= 1.0/30:
		return "medium"
	default:
		return "low"
	}
}

// leadTimes are the lead times of the commits d is the first production
// deploy of its service to carry (ds is the service's deploys, oldest first).
func leadTimes(d *Change, ds []*Change) []float64 {
	var out []float64
	for _, c := range d.Commits {
		if !known(c.At) || c.At.After(d.at()) || carriedBefore(d, c.SHA, ds) {
			continue
		}
		out = append(out, d.at().Sub(c.At).Seconds())
	}
	return out
}

// carriedBefore: an earlier deploy of the service already carried sha.
func carriedBefore(d *Change, sha string, ds []*Change) bool {
	for _, e := range ds {
		if e == d {
			return false
		}
		if slices.ContainsFunc(e.Commits, func(c Commit) bool { return c.SHA == sha }) {
			return true
		}
	}
	return false
}

// quantile by linear interpolation; 0 for no values.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

// failures attributes failures to deploys.
type failures struct {
	deploys map[string][]*Change
	causes  map[*Change]*Failure
}

// before is the last deploy of service at or before t.
func (f *failures) before(service string, t time.Time) *Change {
	ds := f.deploys[service]
	i, _ := slices.BinarySearchFunc(ds, t, func(d *Change, t time.Time) int {
		if d.at().After(t) {
			return 1
		}
		return -1
	})
	if i == 0 {
		return nil
	}
	return ds[i-1]
}

func (f *failures) mark(d *Change, cause, by string) {
	fl := f.causes[d]
	if fl == nil {
		fl = &Failure{Deploy: d.ID, Service: d.Service, At: d.at()}
		f.causes[d] = fl
	}
	if !slices.Contains(fl.Causes, cause) {
		fl.Causes = append(fl.Causes, cause)
	}
	fl.By = append(fl.By, by)
}

func (f *failures) attribute(service string, t time.Time, cause, by string) {
	if d := f.before(service, t); d != nil {
		f.mark(d, cause, by)
	}
}

// rolledBack marks and returns the deploy a rollback undid: the one it
// names (id or commit), else the last deploy of its service before it.
func (f *failures) rolledBack(rb Change) *Change {
	var d *Change
	if rb.RollbackOf != "" {
		for _, e := range f.deploys[rb.Service] {
			if (e.ID == rb.RollbackOf || e.Commit == rb.RollbackOf) && !e.at().After(rb.at()) {
				d = e
			}
		}
	}
	if d == nil {
		d = f.before(rb.Service, rb.at())
	}
	if d != nil {
		f.mark(d, CauseRollback, rb.ID)
	}
	return d
}

// reverts marks the deploy before each deploy whose title is a revert.
func (f *failures) reverts() {
	for _, ds := range f.deploys {
		for i := 1; i < len(ds); i++ {
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(ds[i].Title)), "revert") {
				f.mark(ds[i-1], CauseRevert, ds[i].ID)
			}
		}
	}
}
