package metrics

import "github.com/prometheus/client_golang/prometheus"

var descMoved = prometheus.NewDesc(ns+"_directory_moved",
	"1 while a directory of this output (Queue_Dir, its intake, Dead_Letter_Dir) is no longer the one at its configured path: renamed away or replaced under the running plugin.",
	[]string{"output"}, nil)

// DirectoryMoved says whether a directory of the output is no longer the
// one at its path.
func (o *Output) DirectoryMoved(moved bool) {
	if o == nil {
		return
	}
	o.moved.Store(moved)
}

func (o *Output) collectMoved(ch chan<- prometheus.Metric) {
	v := 0.0
	if o.moved.Load() {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(descMoved, prometheus.GaugeValue, v, o.name)
}
