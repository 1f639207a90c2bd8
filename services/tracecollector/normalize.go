package tracecollector

import "strings"

// maxStatement bounds a normalised statement; longer ones are cut.
const maxStatement = 1024

// normalizeSQL turns a statement into its shape, so that queries differing
// only in their literals group together: string and numeric literals become
// '?', lists of placeholders collapse to one, runs of white space become one
// space. It does not parse SQL; it scans tokens, which is enough to group.
func normalizeSQL(q string) string {
	var b strings.Builder
	b.Grow(min(len(q), maxStatement))
	space := false
	for i := 0; i < len(q) && b.Len() < maxStatement; {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			space = true
			i++
			continue
		case c == '\'':
			// Single quotes delimit literals; double quotes name identifiers.
			i = skipQuoted(q, i, c)
			c = '?'
		case isDigit(c) && !prevIdent(q, i):
			for i < len(q) && (isDigit(q[i]) || q[i] == '.' || q[i] == 'e' || q[i] == 'E' || q[i] == 'x' || isHex(q[i])) {
				i++
			}
			c = '?'
		case c == '$' && i+1 < len(q) && isDigit(q[i+1]):
			// Postgres placeholders $1, $2 name the same shape.
			i++
			for i < len(q) && isDigit(q[i]) {
				i++
			}
			c = '?'
		default:
			i++
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteByte(c)
	}
	return collapseLists(b.String())
}

// collapseLists turns "(?, ?, ?)" and "(?,?)" into "(?)", so IN lists of
// different lengths are the same statement.
func collapseLists(s string) string {
	if !strings.Contains(s, "?,") && !strings.Contains(s, "?, ") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] != '?' {
			continue
		}
		j := i + 1
		for {
			k := j
			if k < len(s) && s[k] == ',' {
				k++
				if k < len(s) && s[k] == ' ' {
					k++
				}
				if k < len(s) && s[k] == '?' {
					j = k + 1
					continue
				}
			}
			break
		}
		i = j - 1
	}
	return b.String()
}

func skipQuoted(q string, i int, quote byte) int {
	i++
	for i < len(q) {
		if q[i] == quote {
			if i+1 < len(q) && q[i+1] == quote { // doubled quote escapes itself
				i += 2
				continue
			}
			return i + 1
		}
		if q[i] == '\\' {
			i++
		}
		i++
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// prevIdent tells whether the digit at i continues an identifier (t1, col2).
func prevIdent(q string, i int) bool {
	if i == 0 {
		return false
	}
	p := q[i-1]
	return p == '_' || isDigit(p) || p >= 'a' && p <= 'z' || p >= 'A' && p <= 'Z'
}
