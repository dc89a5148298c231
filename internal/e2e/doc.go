// Package e2e starts the whole carto-setup program in-process on a free port
// with temporary directories, and drives it with a real Chromium through
// chromedp. On failure a test keeps the server's console output and a
// screenshot. Under CI=true a missing Chromium fails instead of skipping.
package e2e
