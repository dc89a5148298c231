// Package k8sexport turns the wizard's answers into what CARTO's Kubernetes
// flavours take: values files for the carto-selfhosted-helm chart and a KOTS
// ConfigValues document, with a report of where each answer went and of
// everything that does not carry over. Every file is built as YAML nodes,
// parsed back and compared before it is handed out, and no secret reaches a
// file meant to be shared. It does not read answers files, talk to a cluster
// or decide where the CLI writes: callers pass a wizard.State and a
// directory.
package k8sexport
