// Command vulnapp is deliberately insecure code that the scanners in
// ../../README.md run on to produce fixtures. It is never built into Trilens.
package main

import (
	"crypto/md5"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/net/html"
)

// awsKey is a fake credential for the secret scanners.
const awsKey = "AKIAZ3MSJV4WWNKWW5FG"

func hash(b []byte) string {
	return fmt.Sprintf("%x", md5.Sum(b))
}

func handler(db *sql.DB) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		rows, _ := db.Query("SELECT * FROM users WHERE name = '" + name + "'")
		defer rows.Close()
		out, _ := exec.Command("sh", "-c", "echo "+name).Output()
		w.Write(out)
		f, _ := os.Open(r.URL.Query().Get("file"))
		defer f.Close()
		doc, err := html.Parse(strings.NewReader(name))
		if err == nil {
			html.Render(w, doc)
		}
	}
}

func main() {
	fmt.Println(hash([]byte(awsKey)))
	os.WriteFile("/tmp/vulnapp", []byte("x"), 0o777)
	http.ListenAndServe(":8080", handler(nil))
}
