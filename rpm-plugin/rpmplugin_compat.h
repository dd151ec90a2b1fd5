// SPDX-License-Identifier: GPL-2.0-or-later
/* The rpm transaction plugin interface of rpm 4.18, for systems whose
 * librpm-dev does not install <rpm/rpmplugin.h> (Debian's does not). The
 * layout matches rpm 4.18's struct rpmPluginHooks_s: twelve hooks, from init
 * to fsm_file_prepare. Used only when the system header is missing. */
#ifndef PKGUNIFY_RPMPLUGIN_COMPAT_H
#define PKGUNIFY_RPMPLUGIN_COMPAT_H

#include <rpm/rpmfi.h>
#include <rpm/rpmtypes.h>

#include <sys/types.h>

typedef rpmFlags rpmFsmOp;

#define XFA_MASK 0x0000ffff
#define XFO_ACTION(_a) ((_a)&XFA_MASK)

typedef rpmRC (*plugin_init_func)(rpmPlugin plugin, rpmts ts);
typedef void (*plugin_cleanup_func)(rpmPlugin plugin);
typedef rpmRC (*plugin_tsm_pre_func)(rpmPlugin plugin, rpmts ts);
typedef rpmRC (*plugin_tsm_post_func)(rpmPlugin plugin, rpmts ts, int res);
typedef rpmRC (*plugin_psm_pre_func)(rpmPlugin plugin, rpmte te);
typedef rpmRC (*plugin_psm_post_func)(rpmPlugin plugin, rpmte te, int res);
typedef rpmRC (*plugin_scriptlet_pre_func)(rpmPlugin plugin, const char* s_name, int type);
typedef rpmRC (*plugin_scriptlet_fork_post_func)(rpmPlugin plugin, const char* path, int type);
typedef rpmRC (*plugin_scriptlet_post_func)(rpmPlugin plugin, const char* s_name, int type, int res);
typedef rpmRC (*plugin_fsm_file_pre_func)(rpmPlugin plugin, rpmfi fi, const char* path, mode_t file_mode, rpmFsmOp op);
typedef rpmRC (*plugin_fsm_file_post_func)(rpmPlugin plugin, rpmfi fi, const char* path, mode_t file_mode, rpmFsmOp op,
                                           int res);
typedef rpmRC (*plugin_fsm_file_prepare_func)(rpmPlugin plugin, rpmfi fi, int fd, const char* path, const char* dest,
                                              mode_t file_mode, rpmFsmOp op);

struct rpmPluginHooks_s
{
  plugin_init_func init;
  plugin_cleanup_func cleanup;
  plugin_tsm_pre_func tsm_pre;
  plugin_tsm_post_func tsm_post;
  plugin_psm_pre_func psm_pre;
  plugin_psm_post_func psm_post;
  plugin_scriptlet_pre_func scriptlet_pre;
  plugin_scriptlet_fork_post_func scriptlet_fork_post;
  plugin_scriptlet_post_func scriptlet_post;
  plugin_fsm_file_pre_func fsm_file_pre;
  plugin_fsm_file_post_func fsm_file_post;
  plugin_fsm_file_prepare_func fsm_file_prepare;
};
typedef struct rpmPluginHooks_s* rpmPluginHooks;

#ifdef __cplusplus
extern "C" {
#endif
const char* rpmPluginName(rpmPlugin plugin);
const char* rpmPluginOpts(rpmPlugin plugin);
void rpmPluginSetData(rpmPlugin plugin, void* data);
void* rpmPluginGetData(rpmPlugin plugin);
#ifdef __cplusplus
}
#endif

#endif
