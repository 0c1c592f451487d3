/* denormals.c - does a long-window LSTM backward hit subnormal numbers, and
 * do they cost time here? docs/reliability.md, "Denormals". Build from a
 * build directory: cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -I../src
 * -I../include ../bench/denormals/denormals.c librecur_internal.a -lm -pthread
 * Run: ./a.out T H [weight scale] [pooled] */
#include "nn/model.h"
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <time.h>
#include <xmmintrin.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static size_t subn(const float *x, size_t n){size_t c=0;for(size_t i=0;i<n;i++) if(x[i]!=0&&fabsf(x[i])<1.17549435e-38f) c++;return c;}
int main(int argc,char**argv){
  int T=atoi(argv[1]), B=4, H=atoi(argv[2]);
  uint32_t chars[40]; for(int i=0;i<40;i++) chars[i]='A'+i;
  recur_vocab *v; vocab_from_chars(chars,40,0,&v,NULL);
  recur_model_config c; recur_model_config_default(&c); c.cell=RECUR_CELL_LSTM; c.hidden=H; c.layers=2; int pool=argc>4; if(pool) c.outputs=3;
  recur_model *m; recur_model_new(&c,v,1,&m,NULL);
  // scale weights down: gradients vanish over a long window (as in a trained, saturated model)
  float scale = argc>3? atof(argv[3]):1.0f;
  for(size_t i=0;i<m->nw;i++) m->w[i]*=scale;
  m->version++;
  workspace *ws; ws_new(m,T,B,1,&ws,NULL); if(pool){ws->pool=1; for(int b=0;b<B;b++) ws->lens[b]=T;}
  int32_t *ids=malloc(4*T*B),*tgt=malloc(4*T*B); for(int i=0;i<T*B;i++){ids[i]=i*7%40;tgt[i]=(i*13+5)%(pool?3:40);}
  float *g=calloc(m->nw,4);
  double bestm[2]={1e9,1e9}; size_t subm[2]={0,0};
  for(int round=0;round<14;round++){ int mode=round&1;
    unsigned old=_mm_getcsr(); if(mode) _mm_setcsr(old|0x8040);
    double best=1e9; size_t sub=0;
    for(int r=0;r<1;r++){
      ws_zero_state(m,ws); double t0=now();
      model_forward(m,ws,ids,NULL); softmax_xent(ws->logits,tgt,pool?B:T*B,m->O,1,NULL); model_backward(m,ws,g);
      double t=now()-t0; if(t<best)best=t;
    }
    sub=subn(g,m->nw); size_t sc=0; for(int u=0;u<m->U;u++) sc+=subn(ws->cache[u],(size_t)T*B*H*m->cell->cache);
    _mm_setcsr(old);
    if(best<bestm[mode])bestm[mode]=best; subm[mode]=sc; (void)sub;
  }
  printf("T=%d H=%d scale %s%s: default %.4f s (%zu subnormal gate gradients), FTZ+DAZ %.4f s (%zu): %+.1f%%\n",T,H,argc>3?argv[3]:"1",argc>4?" pooled":"",bestm[0],subm[0],bestm[1],subm[1],100*(bestm[0]-bestm[1])/bestm[1]);
  return 0;
}
