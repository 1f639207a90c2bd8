module example.com/vulnapp

go 1.22

require golang.org/x/net v0.12.0
