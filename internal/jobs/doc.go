// Package jobs runs long operations (the install, the smoke test) in the
// server rather than in a request: a browser can close and come back, and
// several browsers can watch the same job. Each job has an ID, a status and a
// record kept in the state directory, so a restart of the wizard in the
// middle shows what happened. A Retainer keeps what a job shows in memory
// while it runs and only a bounded tail (TailHub) after. It knows nothing
// about what a job does.
package jobs
