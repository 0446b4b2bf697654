package server

import (
	"github.com/gin-gonic/gin"

	"github.com/phasehost/phasehost/web"
)

// mountWeb serves the browser side (package web): the dashboard at /, its
// script and style sheet, the JavaScript client at /v1/client.js, the example
// input at /v1/example; and the OpenAPI document at /v1/openapi.json.
func (s *Server) mountWeb(r *gin.Engine) {
	h := gin.WrapH(web.Handler())
	for _, p := range web.Paths() {
		r.GET(p, h)
	}
	r.GET("/v1/openapi.json", serveOpenAPI)
}
