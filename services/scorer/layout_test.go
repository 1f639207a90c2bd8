package scorer_test

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/trilens/trilens/services/scorer"

// TestNoLongFunctions fails on any function of the scorer (tests aside)
// whose body is over 80 lines.
func TestNoLongFunctions(t *testing.T) {
	const limit = 80
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var body *ast.BlockStmt
			name := "func literal"
			switch fn := n.(type) {
			case *ast.FuncDecl:
				body, name = fn.Body, fn.Name.Name
			case *ast.FuncLit:
				body = fn.Body
			}
			if body != nil {
				if lines := fset.Position(body.Rbrace).Line - fset.Position(body.Lbrace).Line - 1; lines > limit {
					t.Errorf("%s: %s has %d lines, more than %d", fset.Position(body.Lbrace), name, lines, limit)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// layers reads the layout of doc.go: the scorer's packages from the bottom up.
func layers(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line := regexp.MustCompile(`^//\t(\S+)\s{2,}\S`)
	var out []string
	in := false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		switch m := line.FindStringSubmatch(sc.Text()); {
		case strings.HasPrefix(sc.Text(), "// # Layout"):
			in = true
		case in && m != nil:
			out = append(out, m[1])
		case in && len(out) > 0:
			return out
		}
	}
	t.Fatal("doc.go has no layout block")
	return nil
}

func importPath(pkg string) string {
	if pkg == "scorer" {
		return module
	}
	return module + "/" + pkg
}

// TestDependencyDirection: go list -deps of each package of the layout
// names no package listed after it, and every package is in the layout.
func TestDependencyDirection(t *testing.T) {
	order := layers(t)
	rank := map[string]int{}
	for i, p := range order {
		rank[importPath(p)] = i
	}
	all, err := exec.Command("go", "list", "./...").Output()
	if err != nil {
		t.Fatalf("go list ./...: %v", err)
	}
	for _, p := range strings.Fields(string(all)) {
		if _, ok := rank[p]; !ok {
			t.Errorf("package %s is not in doc.go's layout", p)
		}
	}
	for i, p := range order {
		out, err := exec.Command("go", "list", "-deps", importPath(p)).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", p, err)
		}
		deps := strings.Fields(string(out))
		if !slices.Contains(deps, importPath(p)) {
			t.Errorf("go list -deps %s does not list the package itself: no such package?", p)
		}
		for _, d := range deps {
			if j, ok := rank[d]; ok && j > i {
				t.Errorf("%s imports %s, which the layout puts above it", p, order[j])
			}
			if d == importPath("internal/scorertest") && p != "internal/scorertest" {
				t.Errorf("%s imports internal/scorertest, which is for tests only", p)
			}
		}
	}
}
