/* SPDX-License-Identifier: Apache-2.0 */
/* OpenWhisk's 401 texts, as the node and the controller both answer them. */
#ifndef XWHISK_AUTH_MESSAGES_H
#define XWHISK_AUTH_MESSAGES_H

#define AUTH_NOT_SUPPLIED \
	"The resource requires authentication, which was not supplied with the request"
#define AUTH_INVALID "The supplied authentication is invalid"

#endif
