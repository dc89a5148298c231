package web

import "time"

// ImagesBoardView is the pull phase of an install on the install page: one
// row per image of the release and the total. The JSON form is what the
// live board (js/images.js) receives; every text is preformatted by the
// server, so the page with and without JavaScript reads the same.
type ImagesBoardView struct {
	Overall ImageRowView   `json:"overall"`
	Rows    []ImageRowView `json:"rows"`
	Failed  bool           `json:"failed"`
}

// ImageRowView is one image being made present.
type ImageRowView struct {
	Image     string `json:"image"`
	Status    string `json:"status"` // queued, present, pulling, done, failed, skipped
	Layers    string `json:"layers"` // "2 of 5 layers"
	Bytes     string `json:"bytes"`  // "12.3 MB of 40.0 MB"
	BytesDone int64  `json:"bytes_done"`
	Rate      string `json:"rate"` // "2.1 MB/s"
	Left      string `json:"left"` // "about 13 s left"
	Note      string `json:"note"`
	Message   string `json:"message"` // why it failed
	Hint      string `json:"hint"`    // how to fix it
}

// ImageStateView is one image of the release on the Images panel.
type ImageStateView struct {
	Ref     string
	Present bool
}

// UploadView is an unfinished upload of a bundle.
type UploadView struct {
	Offset, Total int64
	Done, Size    string // formatted
}

// LoadView is the latest load of a bundle.
type LoadView struct {
	ID      string
	Status  string // running, succeeded, failed, interrupted
	Error   string
	Started time.Time
	Pass    string // verify or load
	Done    string // "1.2 GB of 3.4 GB"
	Percent int
	Images  []string
	Corrupt bool
	Lines   []string
}

// Running reports whether the load is still going.
func (l LoadView) Running() bool { return l.Status == "running" }

// ImagesPageView is the Images panel: the release's images, and the
// offline bundle's upload and load.
type ImagesPageView struct {
	Images    []ImageStateView
	ListError string
	Upload    *UploadView
	Load      *LoadView
	Error     string
	// Resumed is where the last upload went on from ("1.0 MB"), when it
	// went on from an earlier one.
	Resumed string
	// Back is where the panel was opened from.
	Back string
}

// Missing is how many images of the release the engine lacks.
func (v ImagesPageView) Missing() int { return missingImages(v.Images) }

// missingImages counts the images of ims the engine lacks.
func missingImages(ims []ImageStateView) int {
	n := 0
	for _, im := range ims {
		if !im.Present {
			n++
		}
	}
	return n
}
