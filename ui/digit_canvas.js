// The drawing canvas of the Draw page: white strokes on black, drawn with a mouse, a pen
// or a finger. When the pen lifts, the picture goes to Python at once as a PNG.
export default function ({ data, parentElement, setStateValue }) {
  const canvas = parentElement.querySelector("canvas.digit-canvas");
  const pen = canvas.getContext("2d");
  pen.lineWidth = data.stroke;
  if (canvas.dataset.ready) return; // A rerun: only the stroke width may have changed.
  canvas.dataset.ready = "1";
  canvas.width = canvas.height = data.size;
  canvas.style.width = canvas.style.height = `${data.size}px`;
  pen.fillStyle = "#000000";
  pen.fillRect(0, 0, data.size, data.size);
  Object.assign(pen, { strokeStyle: "#FFFFFF", lineCap: "round", lineJoin: "round", lineWidth: data.stroke });

  let last = null;
  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * (data.size / box.width), (event.clientY - box.top) * (data.size / box.height)];
  };
  const lineTo = ([x, y]) => {
    pen.beginPath();
    pen.moveTo(last[0], last[1]);
    pen.lineTo(x, y);
    pen.stroke();
    last = [x, y];
  };
  const down = (event) => {
    if (event.button > 0) return;
    canvas.setPointerCapture(event.pointerId);
    last = point(event);
    lineTo(last); // A dot, for a tap.
    event.preventDefault();
  };
  const move = (event) => {
    if (last === null) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const each of events.length ? events : [event]) lineTo(point(each));
    event.preventDefault();
  };
  const up = () => {
    if (last === null) return;
    last = null;
    setStateValue("png", canvas.toDataURL("image/png"));
  };
  canvas.addEventListener("pointerdown", down);
  canvas.addEventListener("pointermove", move);
  canvas.addEventListener("pointerup", up);
  canvas.addEventListener("pointercancel", up);
  return () => {
    canvas.removeEventListener("pointerdown", down);
    canvas.removeEventListener("pointermove", move);
    canvas.removeEventListener("pointerup", up);
    canvas.removeEventListener("pointercancel", up);
  };
}
