"""Use a baked visualizer beyond the Sequencer: as a material texture or a compositor overlay.

Both read the frames of a visualizer strip (made by Add Visualizer Strip) as an image
sequence that plays in step with the strip: scene frame ``strip.frame_final_start`` shows
its first frame.
"""

from __future__ import annotations

import bpy

from ...core.errors import UserError
from ..blender import compat, strips
from ..blender.frame_users import material_node, play_in_step, sequence_image, tag_node
from .job_progress import ExplainsPoll

MATERIAL_NAME = "Neural Aesthetics"


def let_the_scene_render(scene, visualizer) -> str:
    """Keep the visualizer strip from covering the render it now decorates; say what changed.

    While any image strip plays, Render shows the Sequencer instead of the 3D scene, so
    the visualizer strip is muted (its frames stay in use by the texture). When no other
    strip has pictures to show, the Sequencer is switched off for rendering too (on 4.2 a
    muted strip still makes Render show an empty Sequencer); sound strips still play into
    the video. Returns a sentence for the report ("" when nothing changed).
    """
    changes = []
    if not visualizer.mute:
        visualizer.mute = True
        changes.append(f"'{visualizer.name}' is muted")
    pictures = [strip for strip in compat.all_strips(scene) if strip.type != "SOUND" and not strip.mute]
    if not pictures and scene.render.use_sequencer:
        scene.render.use_sequencer = False
        changes.append("Output › Post Processing › Sequencer is off")
    if not changes:
        return ""
    return f" ({' and '.join(changes)}, so Render shows the 3D scene)"


class NEURAL_AESTHETICS_OT_apply_to_material(ExplainsPoll, bpy.types.Operator):
    """Show the visualizer on the active object: an image-sequence texture wired to emission"""

    bl_idname = "neural_aesthetics.apply_to_material"
    bl_label = "Apply to Material"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def problem(cls, context):
        obj = context.active_object
        if obj is None or obj.type not in {"MESH", "CURVE", "SURFACE", "META", "FONT"}:
            return "Select an object that can have a material (e.g. a mesh) first"
        return strips.visualizer_strip_problem(context.scene)

    def execute(self, context):
        obj = context.active_object
        strip = strips.visualizer_strip(context.scene)
        try:
            image = sequence_image(strip)
        except UserError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        material = obj.active_material
        if material is None:
            material = bpy.data.materials.new(MATERIAL_NAME)
            obj.data.materials.append(material)
            obj.active_material_index = len(obj.material_slots) - 1
        compat.ensure_material_nodes(material)
        nodes, links = material.node_tree.nodes, material.node_tree.links
        shader = next((n for n in nodes if n.bl_idname == "ShaderNodeBsdfPrincipled"), None)
        if shader is None:
            shader = nodes.new("ShaderNodeBsdfPrincipled")
            output = next((n for n in nodes if n.bl_idname == "ShaderNodeOutputMaterial"), None)
            output = output or nodes.new("ShaderNodeOutputMaterial")
            links.new(shader.outputs[0], output.inputs["Surface"])
        texture = material_node(material, strip)
        reused = texture is not None
        if not reused:
            texture = nodes.new("ShaderNodeTexImage")
            texture.location = (shader.location.x - 400, shader.location.y)
        texture.label = f"Visualizer: {strip.name}"
        texture.image = image
        tag_node(texture, strip)
        play_in_step(texture.image_user, strip)
        emission = shader.inputs["Emission Color"] if "Emission Color" in shader.inputs else shader.inputs["Emission"]
        links.new(texture.outputs["Color"], emission)
        shader.inputs["Emission Strength"].default_value = 1.0
        changed = let_the_scene_render(context.scene, strip)
        again = " (its texture node was reused)" if reused else ""
        self.report({"INFO"}, f"'{material.name}' on '{obj.name}' now glows with '{strip.name}'{again}{changed}")
        return {"FINISHED"}


class NEURAL_AESTHETICS_OT_add_to_compositor(ExplainsPoll, bpy.types.Operator):
    """Mix the visualizer over the render in the compositor (Screen blend)"""

    bl_idname = "neural_aesthetics.add_to_compositor"
    bl_label = "Add to Compositor"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def problem(cls, context):
        return strips.visualizer_strip_problem(context.scene)

    factor: bpy.props.FloatProperty(name="Factor", description="How much of the visualizer shows", default=1.0,
                                    min=0.0, max=1.0, subtype="FACTOR")
    blend_type: bpy.props.EnumProperty(
        name="Blend",
        items=(("SCREEN", "Screen", "Brightens the render with the visualizer"),
               ("ADD", "Add", "Adds the visualizer's light"),
               ("MIX", "Mix", "Replaces the render by the factor")),
        default="SCREEN",
    )

    def execute(self, context):
        scene = context.scene
        strip = strips.visualizer_strip(scene)
        try:
            image = sequence_image(strip)
        except UserError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        tree, final_input = compat.compositor_tree(scene)
        if final_input.is_linked:
            render = final_input.links[0].from_socket
        else:
            render = tree.nodes.new("CompositorNodeRLayers").outputs["Image"]
        image_node = tree.nodes.new("CompositorNodeImage")
        image_node.image = image
        image_node.label = f"Visualizer: {strip.name}"
        tag_node(image_node, strip)
        play_in_step(image_node, strip)
        _mix, _factor, background, foreground, result = compat.new_compositor_mix(tree, self.blend_type, self.factor)
        tree.links.new(render, background)
        tree.links.new(image_node.outputs["Image"], foreground)
        tree.links.new(result, final_input)
        changed = let_the_scene_render(scene, strip)
        self.report({"INFO"}, f"The compositor now mixes '{strip.name}' over the render{changed}")
        return {"FINISHED"}


CLASSES = (NEURAL_AESTHETICS_OT_apply_to_material, NEURAL_AESTHETICS_OT_add_to_compositor)
