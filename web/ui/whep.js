// WHEP viewer: offer to receive video, post it with every candidate, play the answer's stream.
class WhepViewer {
  constructor(video) { this.video = video; this.pc = null; this.session = null; }

  async start(url, headers = {}) {
    await this.stop();
    const pc = new RTCPeerConnection();
    this.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.ontrack = (e) => { this.video.srcObject = e.streams[0] || new MediaStream([e.track]); };
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {  // no trickle: send the offer once gathering is complete
      if (pc.iceGatheringState === 'complete') return resolve();
      pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
      setTimeout(resolve, 3000);
    });
    const res = await fetch(url, {
      method: 'POST', body: pc.localDescription.sdp,
      headers: { 'Content-Type': 'application/sdp', ...headers },
    });
    if (res.status !== 201) {
      const body = await res.json().catch(() => ({}));
      throw new Error(body.error ? body.error.message : `WHEP answered ${res.status}`);
    }
    this.session = new URL(res.headers.get('Location'), new URL(url, location.href)).href;
    this.headers = headers;
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  }

  async stop() {
    if (this.session) fetch(this.session, { method: 'DELETE', headers: this.headers }).catch(() => {});
    if (this.pc) this.pc.close();
    this.pc = null;
    this.session = null;
  }
}
