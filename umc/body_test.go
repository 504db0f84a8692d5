package umc

import (
	"encoding/json"
	"testing"
)

// An answer's body is read once for both what it is and what it says:
// UMC's "status" is still matched exactly ("Status", an escape or a
// folding "ſ" is another key), and the message is as messageOf says.
func TestABodyReadOnceMeansWhatItsExactReadingMeans(t *testing.T) {
	bodies := []string{
		`{"status": 200, "result": true, "message": null}`,
		`{"status": 200}`,
		`{"status": 201}`,
		`{"status": "200"}`,
		`{"status": 200.0}`,
		`{"status": null}`,
		`{"status": -200}`,
		`{"status": 2e2}`,
		`{"status": 99999999999999999999}`,
		`{"status": 200, "message": "null"}`,
		`{"status": 503, "message": "Please retry in 10 seconds."}`,
		`{"Status": 401, "status": 200}`,
		`{"status": 200, "Status": 401}`,
		`{"STATUS": 401}`,
		`{"\u0053tatus": 401}`,
		`{"\u0073tatus": 200}`,
		`{"ſtatus": 401}`,
		`{"status": 401, "status": 200}`,
		`{"status": 200, "status": 401}`,
		`{"message": "Status: fine", "status": 200}`,
		`{"Message": "other case", "status": 200}`,
		`{"message": {"detail": "x"}}`,
		` {"status": 200} `,
		`{}`,
		`null`,
		`[]`,
		`"status"`,
		`200`,
		`{"status": 200`,
		``,
		`<html>status</html>`,
		"plain\ntext",
	}
	for _, contentType := range []string{"application/json", "Application/JSON; charset=utf-8", "text/html"} {
		for _, body := range bodies {
			for _, status := range []int{200, 401} {
				fromUMC, message := readBody(contentType, []byte(body), status)
				if want := umcJSON(contentType, []byte(body), status); fromUMC != want {
					t.Errorf("%s %q, HTTP %d: UMC's JSON %v, want %v", contentType, body, status, fromUMC, want)
				}
				if want := messageOf([]byte(body)); message != want {
					t.Errorf("%s %q: message %q, want %q", contentType, body, message, want)
				}
			}
		}
	}
}

// messageOf is the message of a body decoded on its own: what readBody's
// one pass must agree with.
func messageOf(body []byte) string {
	var decoded struct {
		Message json.RawMessage `json:"message"`
	}
	return messageFrom(body, json.Unmarshal(body, &decoded) == nil, decoded.Message)
}
