// Makes tests/data/sops_shamir_splits.json: a fixed 32-byte data key split by sops's own
// shamir.Split (getsops/sops v3.13.2 shamir/shamir.go, copied into $GOPATH/src/shamir
// from the fetched repository; it needs only the standard library):
//   mkdir -p /tmp/gosh/src/shamir && git --git-dir=<sops mirror> show HEAD:shamir/shamir.go > /tmp/gosh/src/shamir/shamir.go
//   GOPATH=/tmp/gosh GO111MODULE=off go run crates/render/tests/oracle/sops_shamir_split.go
package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"shamir"
)

func main() {
	key, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1eff")
	var cases []map[string]interface{}
	for _, c := range [][2]int{{2, 2}, {3, 2}, {5, 3}} {
		parts, err := shamir.Split(key, c[0], c[1])
		if err != nil {
			panic(err)
		}
		var hx []string
		for _, p := range parts {
			hx = append(hx, hex.EncodeToString(p))
		}
		cases = append(cases, map[string]interface{}{"parts": hx, "threshold": c[1]})
	}
	o, _ := json.Marshal(map[string]interface{}{"key": hex.EncodeToString(key), "splits": cases})
	fmt.Println(string(o))
}
