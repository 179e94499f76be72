package safetemplate

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The cost a render may have, whatever the template. The bounds of the
// package put a render far below both (a few megabytes and a few tens of
// milliseconds at worst); one that reaches them found a bound that is
// missing.
const (
	costBytes = 16 << 20
	costTime  = time.Second
)

// costData has the shapes of the data templates are given, at their
// largest: a long value with the characters escapers and %q expand, a map
// as many headers as an ApiClient may have, a list as long as a
// NotificationChannel's event types.
type costData struct {
	Token   string
	Headers map[string]string
	List    []string
	Number  int
}

func newCostData() costData {
	d := costData{Token: strings.Repeat("<\"é\x01", 4096), Headers: map[string]string{}, List: make([]string, 64), Number: 7}
	for i := range 17 {
		d.Headers[fmt.Sprintf("X-Header-%d", i)] = strings.Repeat("<", 4096)
	}
	for i := range d.List {
		d.List[i] = strings.Repeat("e", 128)
	}
	return d
}

// FuzzTemplateCost parses and renders arbitrary templates over the largest
// data and fails when that allocates more than costBytes or takes more than
// costTime, or when a render fails with an error other than an ExecError
// (whose fields cannot hold a value of the data).
func FuzzTemplateCost(f *testing.F) {
	for _, text := range []string{
		`{{ printf "` + strings.Repeat("%1000000d", 40) + `"` + strings.Repeat(" 1", 40) + ` }}`,
		`{{ printf "%.1000000f%*d" 1.5 1000000 1 }}`,
		`{{ printf (print "%" .Number "000000d") 1 }}`,
		`{{ printf "%64v%64v%64v%64v" $ $ $ $ }}`,
		`{{ $x := .Token }}{{ range .List }}{{ range $.List }}{{ $x = print $x $x }}{{ end }}{{ end }}`,
		`{{ js (js (js (js (js (html (urlquery .Token)))))) }}`,
		`{{ range .List }}{{ range $.List }}{{ $x := json $ }}{{ end }}{{ end }}`,
		`{{ range $k, $v := .Headers }}{{ range $.List }}{{ if eq $v $.Token $v }}{{ end }}{{ end }}{{ end }}`,
		`{{ with 1000000000 }}{{ range . }}{{ end }}{{ end }}`,
		`{{ index "" (index .Token 3) }}`,
		`{{ range $k, $v := .Headers }}{{ $k }}: {{ $v }}{{ "\n" }}{{ end }}`,
		`{{ println .Token .Headers .List .Number }}`,
		`{{ printf "%#v %+q % #x %U" . .Token .Token .Number }}`,
	} {
		f.Add(text)
	}
	data := newCostData()
	funcs := map[string]Func{"json": func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err }}
	f.Fuzz(func(t *testing.T, text string) {
		var before, after runtime.MemStats
		var parsed bool
		var err error
		done := make(chan struct{})
		runtime.ReadMemStats(&before)
		start := time.Now()
		go func() {
			defer close(done)
			var tp *Template
			if tp, err = Parse("t", text, funcs); err == nil {
				parsed = true
				_, err = Execute(tp, data, 64<<10)
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * costTime):
			t.Fatalf("parsing and rendering did not finish within %v", 10*costTime)
		}
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > costBytes {
			t.Errorf("one render allocated %d MiB", n>>20)
		}
		if took > costTime {
			t.Errorf("one render took %v", took)
		}
		var e *ExecError
		if parsed && err != nil && !errors.As(err, &e) {
			t.Errorf("the render failed with %T, not an ExecError: %v", err, err)
		}
	})
}
