// Attention for new offers: a short beep made with WebAudio, and a desktop notification.

let audio = null;

/** Browsers allow sound only after a gesture; call this from a click or key press. */
export function unlockSound() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  if (!audio) audio = new Context();
  if (audio.state === "suspended") audio.resume();
}

export function beep() {
  if (!audio || audio.state !== "running") return;
  const start = audio.currentTime;
  for (const [offset, pitch] of [[0, 880], [0.18, 1175]]) {
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.type = "sine";
    tone.frequency.value = pitch;
    gain.gain.setValueAtTime(0.0001, start + offset);
    gain.gain.exponentialRampToValueAtTime(0.25, start + offset + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.15);
    tone.connect(gain).connect(audio.destination);
    tone.start(start + offset);
    tone.stop(start + offset + 0.16);
  }
}

export function canNotify() {
  return "Notification" in window;
}

export async function askToNotify() {
  if (canNotify() && Notification.permission === "default") {
    await Notification.requestPermission();
  }
}

export function notify(title, body) {
  if (!canNotify() || Notification.permission !== "granted" || !document.hidden) return;
  try {
    const shown = new Notification(title, { body, tag: "connectnow-offer" });
    shown.onclick = () => {
      window.focus();
      shown.close();
    };
  } catch {
    // Some browsers allow notifications only from a service worker; the beep still sounds.
  }
}
