// SPDX-License-Identifier: Apache-2.0
/* Unauthenticated descriptions: GET /, GET /api/v1, GET /api/v1/api-docs. */
#include "api.h"
#include "controller.h"
#include "json.h"

void api_info_root(struct api_req *r)
{
	api_reply(r, 200,
		  json_pack("{s:s,s:{s:s,s:s},s:[s],s:o,s:o}", "description", "OpenWhisk", "support",
			    "github", "https://github.com/apache/openwhisk/issues", "slack",
			    "http://slack.openwhisk.org", "api_paths", "/api/v1", "limits",
			    limits_system_info(), "runtimes", runtimes_info(r->ctl->runtimes)));
}

void api_info_v1(struct api_req *r)
{
	api_reply(r, 200,
		  json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s}}", "description", "OpenWhisk API",
			    "api_version", "1.0.0", "api_version_path", "v1", "build",
			    r->ctl->build ? r->ctl->build : "dev", "buildno", "xwhisk",
			    "swagger_paths", "ui", "/docs", "api-docs", "/api-docs"));
}

/* A compact Swagger 2.0 description of the routes this controller serves. */
void api_info_docs(struct api_req *r)
{
	static const char *const paths[] = {
		"/namespaces",
		"/namespaces/{namespace}/actions",
		"/namespaces/{namespace}/actions/{actionName}",
		"/namespaces/{namespace}/actions/{packageName}/{actionName}",
		"/namespaces/{namespace}/packages",
		"/namespaces/{namespace}/packages/{packageName}",
		"/namespaces/{namespace}/triggers",
		"/namespaces/{namespace}/triggers/{triggerName}",
		"/namespaces/{namespace}/rules",
		"/namespaces/{namespace}/rules/{ruleName}",
		"/namespaces/{namespace}/activations",
		"/namespaces/{namespace}/activations/{activationid}",
		"/namespaces/{namespace}/activations/{activationid}/result",
		"/namespaces/{namespace}/activations/{activationid}/logs",
		"/namespaces/{namespace}/limits",
		"/web/{namespace}/{packageName}/{actionName}.{extension}",
	};
	json_t *p = json_object();

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		json_object_set_new(p, paths[i], json_object());
	api_reply(r, 200,
		  json_pack("{s:s,s:{s:s,s:s},s:s,s:[s],s:o}", "swagger", "2.0", "info", "title",
			    "OpenWhisk REST API", "version", "1.0.0", "basePath", "/api/v1",
			    "schemes", "http", "paths", p));
}
