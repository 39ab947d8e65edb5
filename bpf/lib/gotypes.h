/* SPDX-License-Identifier: GPL-2.0 */
/* gotypes.h: structs the Go side uses that no map, context or function
 * signature puts into the object's BTF, where bpf2go -type finds them.
 * Each anchor is a pointer in a section of its own that the loader
 * ignores: it names the type and adds no map or code. */
#pragma once

#define WG_GO_TYPE(name)                                                        \
	const struct name *__wg_go_type_##name                                   \
		__attribute__((section("go_types"), used))
