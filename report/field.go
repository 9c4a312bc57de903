package report

import "github.com/theory/jsonpath"

// protocol is a way to find the prediction in a response body.
type protocol int

const (
	protoWhole       protocol = iota // the whole body
	protoV1                          // KServe / TF Serving V1: $.predictions
	protoOIP                         // Open Inference Protocol V2: $.outputs[*].data
	protoChat                        // OpenAI chat completions: $.choices[*].message.content
	protoCompletions                 // OpenAI completions: $.choices[*].text
	protoEmbeddings                  // OpenAI embeddings: $.data[*].embedding
	protoFlag                        // the --field path
)

var protoPaths = map[protocol]string{
	protoWhole:       "$",
	protoV1:          "$.predictions",
	protoOIP:         "$.outputs[*].data",
	protoChat:        "$.choices[*].message.content",
	protoCompletions: "$.choices[*].text",
	protoEmbeddings:  "$.data[*].embedding",
}

var protoNames = map[protocol]string{
	protoWhole:       "whole body",
	protoV1:          "KServe/TF Serving V1",
	protoOIP:         "Open Inference Protocol V2",
	protoChat:        "OpenAI chat completions",
	protoCompletions: "OpenAI completions",
	protoEmbeddings:  "OpenAI embeddings",
	protoFlag:        "--field",
}

// protoExtractors are built once: a Builder picks one per row, and building
// one (Singular) allocates.
var protoExtractors = func() map[protocol]extractor {
	m := map[protocol]extractor{}
	for p, s := range protoPaths {
		q := jsonpath.MustParse(s)
		m[p] = extractor{proto: p, path: q, text: s, singular: q.Query().Singular() != nil}
	}
	return m
}()

// detectProtocol tells from the shape of a decoded response body which
// serving protocol produced it.
func detectProtocol(body any) protocol {
	obj, ok := body.(map[string]any)
	if !ok {
		return protoWhole
	}
	if _, ok := obj["predictions"]; ok {
		return protoV1
	}
	if outs, ok := obj["outputs"].([]any); ok && len(outs) > 0 && allHave(outs, "data") {
		return protoOIP
	}
	if choices, ok := obj["choices"].([]any); ok && len(choices) > 0 {
		if first, ok := choices[0].(map[string]any); ok {
			if msg, ok := first["message"].(map[string]any); ok {
				if _, ok := msg["content"]; ok {
					return protoChat
				}
			}
			if _, ok := first["text"]; ok {
				return protoCompletions
			}
		}
	}
	if data, ok := obj["data"].([]any); ok && len(data) > 0 && allHave(data, "embedding") {
		return protoEmbeddings
	}
	return protoWhole
}

func allHave(list []any, key string) bool {
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return false
		}
		if _, ok := m[key]; !ok {
			return false
		}
	}
	return true
}

// extractor takes the prediction out of a decoded body.
type extractor struct {
	proto protocol
	path  *jsonpath.Path
	text  string // the path as written
	// singular paths select at most one node, which is the prediction;
	// other paths select a list of nodes, each an instance.
	singular bool
}

// newExtractor returns the extractor of protocol p; field is the path of
// protoFlag. Its error is the path's syntax error, for the caller to name.
func newExtractor(p protocol, field string) (extractor, error) {
	if p != protoFlag {
		return protoExtractors[p], nil
	}
	q, err := jsonpath.Parse(field)
	if err != nil {
		return extractor{}, err
	}
	return extractor{proto: p, path: q, text: field, singular: q.Query().Singular() != nil}, nil
}

// extract returns the prediction in body, and false when the path selects
// nothing.
func (e extractor) extract(body any) (any, bool) {
	switch e.proto {
	case protoWhole:
		return body, true
	case protoV1: // the common case, without the general query machinery
		m, ok := body.(map[string]any)
		if !ok {
			return nil, false
		}
		v, ok := m["predictions"]
		return v, ok
	}
	nodes := e.path.Select(body)
	if len(nodes) == 0 {
		return nil, false
	}
	if e.proto == protoOIP && len(nodes) == 1 {
		return oipData(body, nodes[0]), true
	}
	if e.singular {
		return nodes[0], true
	}
	return []any(nodes), true
}

// oipData is the data of the only output of an Open Inference Protocol
// answer. Its data is flat; a [N, C] shape with C > 1 makes N vectors of C
// numbers (class probabilities), otherwise each element is an instance.
func oipData(body, data any) any {
	flat, ok := data.([]any)
	if !ok {
		return data
	}
	out := body.(map[string]any)["outputs"].([]any)[0].(map[string]any)
	shape, ok := out["shape"].([]any)
	if !ok || len(shape) != 2 {
		return flat
	}
	n, ok1 := shape[0].(int64)
	c, ok2 := shape[1].(int64)
	if !ok1 || !ok2 || c <= 1 || n <= 0 || n*c != int64(len(flat)) {
		return flat
	}
	rows := make([]any, n)
	for i := range rows {
		rows[i] = flat[int64(i)*c : int64(i+1)*c]
	}
	return rows
}
