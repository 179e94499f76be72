// Command ratelimited is a test binary with one dependency outside the
// standard library, for the SBOM test.
package main

import (
	"fmt"

	"golang.org/x/time/rate"
)

func main() {
	fmt.Println(rate.NewLimiter(1, 1).Allow())
}
