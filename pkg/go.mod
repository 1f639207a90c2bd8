module github.com/trilens/trilens/pkg

go 1.26

require (
	github.com/trilens/trilens/proto v0.0.0
	google.golang.org/protobuf v1.36.12
)

replace github.com/trilens/trilens/proto => ../proto
