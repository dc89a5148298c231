package wizard

// Form field names that more than one package needs: the steps report
// field errors under them, the pages render inputs with them, and the
// answers file maps them to its own paths.
const (
	FieldDomain = "domain"
)
