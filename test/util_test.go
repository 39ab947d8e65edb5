// SPDX-License-Identifier: MIT

package test

import "encoding/base64"

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
