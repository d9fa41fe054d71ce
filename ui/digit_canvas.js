// The drawing canvas of the Draw page: white strokes on black, drawn with a mouse, a pen
// or a finger. When the pen lifts, the picture goes to Python at once as a PNG.
export default function ({ data, parentElement, setStateValue }) {
  const canvas = parentElement.querySelector("canvas.digit-canvas");
  const pen = canvas.getContext("2d", { willReadFrequently: true });
  pen.lineWidth = data.stroke;
  if (canvas.dataset.ready) return; // A rerun: only the stroke width may have changed.
  canvas.dataset.ready = "1";
  canvas.width = canvas.height = data.size;
  canvas.style.width = `${data.size}px`; // At most the column's width (CSS), square.
  pen.fillStyle = "#000000";
  pen.fillRect(0, 0, data.size, data.size);
  Object.assign(pen, { strokeStyle: "#FFFFFF", lineCap: "round", lineJoin: "round", lineWidth: data.stroke });
  if (data.png) { // The drawing from before the user left the page.
    const picture = new Image();
    picture.onload = () => pen.drawImage(picture, 0, 0);
    picture.src = data.png;
  }

  // A stroke is one path, drawn anew over the picture from before it at every move:
  // no seams where short segments would meet.
  let stroke = null;
  let before = null;
  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * (data.size / box.width), (event.clientY - box.top) * (data.size / box.height)];
  };
  const drawStroke = () => {
    pen.putImageData(before, 0, 0);
    pen.beginPath();
    pen.moveTo(...stroke[0]);
    for (const [x, y] of stroke) pen.lineTo(x, y);
    pen.stroke();
  };
  const down = (event) => {
    if (event.button > 0) return;
    canvas.setPointerCapture(event.pointerId);
    before = pen.getImageData(0, 0, data.size, data.size);
    stroke = [point(event)];
    drawStroke(); // A dot, for a tap.
    event.preventDefault();
  };
  const move = (event) => {
    if (stroke === null) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const each of events.length ? events : [event]) stroke.push(point(each));
    drawStroke();
    event.preventDefault();
  };
  const up = () => {
    if (stroke === null) return;
    stroke = before = null;
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
