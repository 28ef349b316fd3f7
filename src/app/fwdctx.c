#include <inttypes.h>
#include <string.h>

#include "app/fwdctx.h"
#include "app/log.h"

static void reap(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct zt_fwdctx *ctx = t->data;
	(void)loop;
	(void)now;

	while (ctx->graveyard) {
		struct zt_fwd_grave *g = ctx->graveyard;
		ctx->graveyard = g->next;
		g->free(g);
	}
}

void zt_fwdctx_init(struct zt_fwdctx *ctx, struct zt_loop *loop, struct zt_nodeio *io)
{
	memset(ctx, 0, offsetof(struct zt_fwdctx, scratch));
	ctx->loop = loop;
	ctx->io = io;
	zt_timer_init(&ctx->reaper, reap, ctx);
}

void zt_fwdctx_bury(struct zt_fwdctx *ctx, struct zt_fwd_grave *g)
{
	g->next = ctx->graveyard;
	ctx->graveyard = g;
	zt_timer_set(ctx->loop, &ctx->reaper, zt_loop_now(ctx->loop));
}

bool zt_fwdctx_burst(struct zt_fwdctx_burst *b, uint64_t now, uint64_t *ret_unlogged)
{
	if (b->at && now < b->at + ZT_FWDCTX_BURST_EVERY) {
		b->unlogged++;
		return false;
	}
	*ret_unlogged = b->unlogged;
	b->at = now ? now : 1;
	b->unlogged = 0;
	return true;
}

/* A channel or flow that got no socket: counted, logged once per burst. */
void zt_fwdctx_no_socket(struct zt_fwdctx *ctx, bool udp, int err)
{
	struct zt_fwdctx_burst *b = udp ? &ctx->udp_limit_log : &ctx->tcp_limit_log;
	uint64_t more;

	if (udp)
		ctx->st.udp_limited++;
	else
		ctx->st.tcp_limited++;
	if (zt_fwdctx_burst(b, zt_loop_now(ctx->loop), &more))
		zt_warn("no_socket", "proto=%s error=\"%s\" not_logged_since=%" PRIu64
			" fix=\"raise the open files limit (ulimit -n, LimitNOFILE=) or lower "
			"--agent-max-sockets\"", udp ? "udp" : "tcp", strerror(-err), more);
}

void zt_fwdctx_fini(struct zt_fwdctx *ctx)
{
	if (!ctx->loop)
		return; /* never initialised */
	zt_timer_cancel(ctx->loop, &ctx->reaper);
	reap(ctx->loop, &ctx->reaper, 0);
}
