package smoketest

// Item is one step of the manual checklist: what to do in CARTO, and what
// it proves.
type Item struct {
	ID     string
	Title  string
	Detail string
}

// Checklist is CARTO's post-installation check, done by hand in the
// browser (carto-facts §5, "Functional checks").
var Checklist = []Item{
	{ID: "signin", Title: "Sign in and create the organization",
		Detail: "Open the CARTO URL, sign in with the e-mail the package was issued for, and create the organization."},
	{ID: "connection", Title: "Create a connection",
		Detail: "Add a connection to your data warehouse in Connections: this proves the APIs reach it from the VM."},
	{ID: "import", Title: "Import a dataset",
		Detail: "Upload a small local file in Data Explorer: this exercises the imports bucket and import-worker."},
	{ID: "layer", Title: "Create a map with a layer",
		Detail: "Create a map with a table layer and a SQL layer: this exercises maps-api and sql-worker."},
	{ID: "public", Title: "Make the map public and open it in a private window",
		Detail: "Share the map publicly and open its link in a private (incognito) window, signed out."},
	{ID: "thumbnail", Title: "Check the map's thumbnail",
		Detail: "Back in the maps list, the map shows a thumbnail: this exercises the thumbnails bucket and its CORS rule."},
}

// ChecklistIDs returns the item IDs in order.
func ChecklistIDs() []string {
	ids := make([]string, len(Checklist))
	for i, it := range Checklist {
		ids[i] = it.ID
	}
	return ids
}
