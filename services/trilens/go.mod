module github.com/trilens/trilens/services/trilens

go 1.26

require (
	github.com/trilens/trilens/pkg v0.0.0
	github.com/trilens/trilens/proto v0.0.0
)

replace (
	github.com/trilens/trilens/pkg => ../../pkg
	github.com/trilens/trilens/proto => ../../proto
)
