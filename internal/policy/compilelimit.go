package policy

// CompileLimit is Compile with the flattening bound as a parameter: a
// negative maxFlat makes every group set fall back to classes. Loaders'
// tests use it to build the programs of every shape Render emits.
func CompileLimit(w World, ifaces map[string]string, maxFlat int) *Program {
	return compile(w, ifaces, maxFlat)
}
