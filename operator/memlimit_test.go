package main

import "testing"

func TestGoMemoryLimitIsNineTenthsOfTheContainersLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    int64
		ok      bool
		wantErr bool
	}{
		{name: "no limit given", env: map[string]string{}},
		{name: "the chart's 512Mi", env: map[string]string{memoryLimitEnv: "536870912"}, want: 483183819, ok: true},
		{name: "the admin's GOMEMLIMIT wins", env: map[string]string{memoryLimitEnv: "536870912", "GOMEMLIMIT": "300MiB"}},
		{name: "not a number of bytes", env: map[string]string{memoryLimitEnv: "512Mi"}, wantErr: true},
		{name: "zero", env: map[string]string{memoryLimitEnv: "0"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := goMemoryLimit(func(k string) string { return tc.env[k] })
			if (err != nil) != tc.wantErr || got != tc.want || ok != tc.ok {
				t.Errorf("goMemoryLimit = %d, %v, %v; want %d, %v, error %v", got, ok, err, tc.want, tc.ok, tc.wantErr)
			}
		})
	}
}
